from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "projects" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(63) NOT NULL UNIQUE,
    "repo_url" TEXT,
    "branch" VARCHAR(255) NOT NULL,
    "stages" JSONB NOT NULL,
    "concurrency" VARCHAR(16) NOT NULL,
    "keep_releases" INT NOT NULL,
    "on_rollback" TEXT,
    "webhook_secret" TEXT NOT NULL,
    "current_deployment_id" UUID,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "projects"."webhook_secret" IS 'AES-256-GCM ciphertext, never plaintext';
CREATE TABLE IF NOT EXISTS "deployments" (
    "seq" BIGSERIAL NOT NULL PRIMARY KEY,
    "id" UUID NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "ref" VARCHAR(255),
    "commit" VARCHAR(64),
    "version" VARCHAR(255),
    "pipeline" JSONB NOT NULL,
    "stages" JSONB NOT NULL,
    "stage_index" INT NOT NULL,
    "trigger" JSONB NOT NULL,
    "release" VARCHAR(255),
    "rollback_to" UUID,
    "error" TEXT,
    "active_slot" UUID UNIQUE,
    "lease_holder" VARCHAR(128),
    "lease_expires" TIMESTAMPTZ,
    "revision" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "started_at" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_deployments_status_ee5dd7" ON "deployments" ("status");
CREATE INDEX IF NOT EXISTS "idx_deployments_project_8e048b" ON "deployments" ("project_id", "status");
COMMENT ON COLUMN "deployments"."version" IS 'the user''s label';
COMMENT ON COLUMN "deployments"."pipeline" IS 'the stage specs, frozen at trigger time';
COMMENT ON COLUMN "deployments"."stages" IS 'per-stage status, attempt, exit code, times';
CREATE TABLE IF NOT EXISTS "log_chunks" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "first_cursor" BIGINT NOT NULL,
    "last_cursor" BIGINT NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "data" TEXT NOT NULL,
    "deployment_id" UUID NOT NULL REFERENCES "deployments" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_log_chunks_deploym_52d5c2" UNIQUE ("deployment_id", "first_cursor")
);
COMMENT ON TABLE "log_chunks" IS 'A batch of log records with consecutive cursors `first_cursor..last_cursor`.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXOtv2zYQ/1cIfVkKOEFi57VhGOA82mZtkqJxt6IPKLR0ttnIpEpRcbyu//tISrbeiu"
    "XaruL5SxIf7yTyd0feg+d8M4bMBsfbOQPXYeMhUGH8hr4ZFA9B/pEz2kAGdt1oTBEE7jqa"
    "3Z7yaTrueoJjSz2yhx0PGorDszhxBWFUUqnvOIrILMlIaD8i+ZR89cEUrA9iAFwOfPwsyY"
    "Ta8ACe+vjRcDn7ApYwia1e5gksfM/4rNjcO7NHwLETa/Hgq+LTA6YYu5p4QvoXVDzXzGom"
    "XdNijj+kMQF3LAaMTiVIAEIfKHAsQL1DcF+tTU09RGKy3GAZEUsw/5iMDT3sOyKGRdeMaI"
    "ZpXl13zJvzjmkaFdCzGFXIE6UHBUFfTWH712az1Tpq7rYOjw/2j44OjnePJa+eb3bo6Hsw"
    "mQiu4FEatIsXF1cdNSEm1RuoXhG+axkscCCl1RThH6gpCf+7dxdn+eAH3CnsfZ/YO0omrY"
    "EJ3rVVQQmapy/bb7dah8/0epkn+lwPamw0pBGEd3LyWRBPB5jngzjhT8EoJzYPgBNChGC0"
    "q1dhxUP8YDpA+2IgP+4dlkD6V/utRnUvQDWy0qtwpKmHkuCGB0gFeCOJZQG80lNiyfhy6F"
    "UBN2SfC9kQtnpabvPgYAZoJVchtnosCa7FhkMiquAbSawfxIf7MyB8uF8IsBpK4nsP3FNT"
    "qgBwTKTGCBsyvEK+B/wXD8k3g2PUxaRd4oJDKGQx//Pm+iof87hMCnSbWAL9ixziZeK3n+"
    "f8NPrSjfTlTxcsr4F6nP0DFGEh9U/6feBIkCHMppQSHSjI1EOGnvfViUO/ddl+n9bK6evr"
    "k3Q0oh5wkvWYfcjxmMX6iSSehHZc4NuhdrSrb0i9CBi6ooHggQhkyRSooRXk1VhDpkYlq6"
    "bixCcp9XgCtCgV7S7LOwQJUHNv/2j/uHW4P817ppSydGeS2kSwhluziuXHRJ6C6S8isVmK"
    "RXNwAHs5TqEskpyK1NgR1yma5Mxxuti6MwWrkrOnxH4gea8Z5IvJ3oFzlnNmdOCh4ByeCq"
    "yD2ZZg2Dl/3yk/KIbjcOT19dWLCXv69EiijS1B7sH0HJaTFhXbcEpsgTa8BvUnfY6aA+bY"
    "ec6v+AROy62DPafKJc3jWeolzePigokay4MbHlzC88LsM4mVij3LMI8Jp8OOUHpn8sfTU0"
    "HZkXJxeX7TaV++SZwrZ+3OuRppJs6UCXUrXc2aPgT9fdF5idRH9OH66jy9U6Z8nQ+GmhP2"
    "BTMpG5nYjmMyIU9IqbjmnuRXGArD9LjIJkZPx+gWB7VyE+cc/+U7Jym5gG1Tt5hdWg62r6"
    "kzDrf0E9lH4elTuo1k6srn03pScnNY1vmw7BFKvMFcak6JbvRcZz0nb/hnDeGTUou8Qq6v"
    "ah8J4lVTRO8u91o+RCsL8HPGgfTpKxhrmC/kVDC18sooYZfIm+hJTxPYiBpta45H016SlG"
    "VJBOS6QQTJT/vmtH12bmioVRFkhLltFmDusL5pDXx6lxPVn4Syz1+9BQeL/PguRPw165+q"
    "x6wR5Bo/1mQx3BKIZoeGzWGaginu6yWpd6s3pfHK6XGKY1nc4ZTU3KMNTkYbdbGwBoj1kB"
    "RFHCzGbQ+NiBggtXawfFVvQJbPPcY9dNsj3BNm8HFnx8HTD7c76SuGhT78E/1Eb1W/yC0i"
    "klNdonm3aEt180jFDABpCvrC5C8bdceIwkiTniHG0a2+MpjyMwpIFW8R66r98kw+/UTNVM"
    "4b3QG4HsLhrZcYYIFcrqxC0obEcSRw4bvkCEY9GCGJt83lWzkbeRqFnO6wj7Hms6m/iFYb"
    "9IXF2scK28TyfE1Zl1iul9k0ic3ZJJbQWSU9pCVXlxGviVJi7gnPqYOU4EYFc6tg0+k3La"
    "3OUlgtLqtmiqrq6KlyCTPhXwtkV30Jk+OTZ8vhMoKbNK48jbMTLfo/mMkl+/2fJryPJnMZ"
    "E6uazy0zU5nk0jmJSizNLs5Twkx1+V/DqBRH16vd3/i951NLYYD0m9SP/T+M2u36snhZ/6"
    "4QJ0z4F+PNfm7Ckmz5bc3S8tsqbvltZfvVXWb63KkSLMRl1uGSe9XxQpdLxzSoYtCRxOoC"
    "NGl5hC7rnFhBe9e69+3WtnlRvl5mxxyoNa5i4ymxFRq6ZPVhNZa++C8cqUqjGTZ/5lh7YR"
    "UjI7e6OsbBsqBecHOFRGPS7FnFPabENh6yuoccQXfA2J3pgcUhJ9crBj8rWeeShtE+v9lu"
    "Hhxuvzi9RBZxZfYh5NIaiMI9cOQ6SgOSkL4UqYeWguNamHPXPwofsGmq3rR5bdq8fNeeU+"
    "tJyY3W66L1nH6gaTtApur2WH9F6v+QzN9gsZaF0KW2WLSBE2tg5NQtw5FGWdkSRzy1KVr+"
    "X27+fzA5KK5R/oTvztdtK66gqKM2VQWEQ/Y1RHdvd3eWSsLubnEpQY1lKjci926tuGYWE9"
    "kUzSoWzSp4/cU7s+//Ab+eqXo="
)
