from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "projects" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(63) NOT NULL UNIQUE,
    "repo_url" TEXT,
    "branch" VARCHAR(255) NOT NULL,
    "stages" JSON NOT NULL,
    "concurrency" VARCHAR(16) NOT NULL,
    "keep_releases" INT NOT NULL,
    "on_rollback" TEXT,
    "webhook_secret" TEXT NOT NULL /* AES-256-GCM ciphertext, never plaintext */,
    "current_deployment_id" CHAR(36),
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "deployments" (
    "seq" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "id" CHAR(36) NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "ref" VARCHAR(255),
    "commit" VARCHAR(64),
    "version" VARCHAR(255) /* the user's label */,
    "pipeline" JSON NOT NULL,
    "stages" JSON NOT NULL,
    "stage_index" INT NOT NULL,
    "trigger" JSON NOT NULL,
    "release" VARCHAR(255),
    "rollback_to" CHAR(36),
    "error" TEXT,
    "active_slot" CHAR(36) UNIQUE,
    "lease_holder" VARCHAR(128),
    "lease_expires" TIMESTAMP,
    "revision" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "started_at" TIMESTAMP,
    "finished_at" TIMESTAMP,
    "project_id" CHAR(36) NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_deployments_status_ee5dd7" ON "deployments" ("status");
CREATE INDEX IF NOT EXISTS "idx_deployments_project_8e048b" ON "deployments" ("project_id", "status");
CREATE TABLE IF NOT EXISTS "log_chunks" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "first_cursor" BIGINT NOT NULL,
    "last_cursor" BIGINT NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "data" TEXT NOT NULL,
    "deployment_id" CHAR(36) NOT NULL REFERENCES "deployments" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_log_chunks_deploym_52d5c2" UNIQUE ("deployment_id", "first_cursor")
) /* A batch of log records with consecutive cursors `first_cursor..last_cursor`. */;
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztnOtz2jgQwP8Vjb9cOpNmCJBHb25uhiS05doknYbedfoYR9gCVIzkynII0+v/fpJs47"
    "eDCVCH85ckSFpb+q0eu6slP7QpNZHlHFwg26LzKSJc+x380AicIvFHRu0+0KBth3WygMOB"
    "pZqbi3aqHA4czqAhHzmEloP2ZQvHYNjmmBJRSlzLkoXUEA0xGYVFLsHfXaRzOkJ8jJio+P"
    "xVFGNionvkyI+fNZvRb8jgOjblyxwOuetoX2Uze6IPMbLM2Fgc9F22UxU6n9uq8AyPeoS/"
    "VI1lTwa6QS13SiIC9pyPKVlIYA/CCBHEIEfyHZy5cmyy6z6JYLjeMMImXv8jMiYaQtfiER"
    "YDPSzTdP3quq/fdPu6rpWgZ1AiyWOpB4lgJLvw/EWz2WqdNBut49Oj9snJ0WnjVLRV/U1X"
    "nfz0OhPi8h6loPVe9a76skNUqNdTvSz4qWQgh56UUlPI31NTHP+HD72LbPhe6wR718XmgZ"
    "RJaiDgXVkVFNA8f915v9c6fqbGSx0+YqpSsVFIQ4QT0fk0xPMxZNkQg/YJjKJjqwAMCkKC"
    "4arexiyewnvdQmTEx+Lj4XEB0r877xXVQ49qOEuv/JqmqorD9TeQEnhDiU0B3uousWG+DA"
    "3LwPWbr0TWx1bNmds8OloCrWiVy1bVxeEadDrFvAzfUGL3EB+3lyB83M4FLKvifO8Qc2SX"
    "SgCOiFSYsCbMK+A6iP3mAPFmZGlVmdI2tpGFCUoz/+vm+iqbeVQmAd3EBgf/Ags7KfvtCR"
    "x+BXglDfnkqeN8t6JU9y47H5PAz99enyUNDfmAs/RhOEIZh2E++lCiBv9Y8LoabJp+vqsS"
    "l3rYZVkX+cam9nPPZWketk/ap63j9sJTWZQUOSiBMxJiFW8bjRArM6EjIvWMfsSMZshC0M"
    "nYxotsv4VIhY/OKtl/jFrWABoTndMyXnZC7BHudsWQr8ffRozRjD2jj+5z9uGFwC5M2wKG"
    "/e7HfvFGMZ37NW+vr14FzZO7R5w2NDi+Q7pj0QxHJn8OJ8TWOId3IGKk9lF9TC0z6/DL34"
    "GTcrswnxMBjubpMhGO5ml+iEPWZeFG9zZmWdbzhWDF8RQVMY8IJ80OX/og+OPpqaBoS+ld"
    "dm/6nct3sX3lotPvyppmbE8JSveS8afFQ8A/vf5rID+CT9dX3eRKWbTrf9Jkn6DLqU7oTI"
    "dmlElQHBQl7Jo7nB0TyDXToyK1jZ600Q2G5Mh1mLH9F6+cuOQalk3VbHYxc6B5Tay5v6Sf"
    "yDryd5/CZSRcV7aa1uOS9WZZ5c1yiAl2xiupOSFa67nKeo7fyS9rwsel1nnpW13VPmDEyz"
    "SG4STzIt2nlQb8kjKER+QNmivMPdEVSIysMIqf1/EufNLTBBuWhsuawdki+yMxswQBMW7E"
    "Peenc3PeuehqCrUMgswgM/Uc5hYd6cbYJZMMq/7Ml3355j2yIM+273zib+noXD5mh5Arfr"
    "RJI9xiRNNV0+Y0WQIJHKkhyXfLNyV5ZWQlRVnm5yTFNfdgSpLWAQPIjTGgQyBEAUMGZaYD"
    "ZpiPgRw7MlwZbwCGyxzKHHA7xMzhuvfx4MCCiw+3B8m7tLU+/Av5Qm5lhsctwKKlvPZybs"
    "GezL8RihkjoErANyp+mWAwBwTNVNEzQBm4VVcGi/aUICCDt4AO5Hp5Jp5+Jnsq+g0mCNkO"
    "gEBJiCdDDmwmZ4Uom2LLEuD8d4kaCIZoBgRvk4m3MjpzFIWMfK7PkXSxxXkRjtbL5IokfO"
    "UmdmWdNUV5XZmnTJ3WtWJaV0xnpfSQlNyeR7wjSokcT3BFHSQEaxWsrII6N28RWl0msJof"
    "Vk0FVeXWU+YSJmi/E2S3fQmTcSYv58OlBGs3rtiNM2NJ9Y/05OIZ+k8T74POXGqKlfXnNu"
    "mpBL50hqMScbPz/RTfU938FydK2dHVStDX/hi6xJAMgHqT/NH+U6vcqi+yl9XvEnZC0H49"
    "p9mvdVjiSbqtZZJ0W/lJuq10hrlNdZdZZYyFqMwuXHJv214YMHEwjctM6FBiewaamHmYbG"
    "qf2EJ6V52O+4uSF8XrhXfMEDHmZeZ4QmyLE100ddF2Zvr6vyIkI426n/yZMdtzoxgpue3F"
    "MY42hXrNyRWCRpDsWeZ4TIjVJ2T5E3KGBmNKJ7qDDIYyfL18+GnJKoc0tE735nnz6Pj5q/"
    "NLYGBbeB9cDG0fEHSHGLAtqQFRkLwUqYaWvO2a6yvHP3IfUCdV12ledZqXa5sraj0uWWu9"
    "KlrPyAdapAOkom4P5Vck/nPI6gkWOxkI3WiKRQcxbIy1jLilX7NfFLaEYZvKBC3/Lzf/j3"
    "QO8mOUv+Db7lVbilsI6shFVYKw33wH6R42GstEEhqN/FCCrEtFbnjm3Vp+zCwiUgfNSgbN"
    "Spz66z/Mfv4HduuONw=="
)
