from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "audit_events" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    "actor" VARCHAR(128) NOT NULL,
    "actor_type" VARCHAR(16) NOT NULL,
    "token_id" VARCHAR(64),
    "action" VARCHAR(64) NOT NULL,
    "project" VARCHAR(63),
    "target" VARCHAR(255),
    "client" VARCHAR(64),
    "user_agent" VARCHAR(255),
    "details" JSONB NOT NULL,
    "prev_hash" VARCHAR(64) NOT NULL,
    "hash" VARCHAR(64) NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_audit_event_action_b36abe" ON "audit_events" ("action");
CREATE INDEX IF NOT EXISTS "idx_audit_event_project_9c3a03" ON "audit_events" ("project");
COMMENT ON TABLE "audit_events" IS 'An append-only, hash-chained record: hash = SHA-256(previous hash || canonical row).';
        CREATE TABLE IF NOT EXISTS "audit_head" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "last_hash" VARCHAR(64) NOT NULL,
    "count" BIGINT NOT NULL
);
COMMENT ON TABLE "audit_head" IS 'The chain''s end, one row: appending locks it, so concurrent writers never fork.';
        CREATE TABLE IF NOT EXISTS "users" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "username" VARCHAR(64) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "disabled" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
        CREATE TABLE IF NOT EXISTS "api_tokens" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(128) NOT NULL,
    "prefix" VARCHAR(16) NOT NULL,
    "digest" VARCHAR(64) NOT NULL UNIQUE,
    "expires_at" TIMESTAMPTZ,
    "last_used_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "api_tokens" IS 'An API token: only its SHA-256 and a short visible prefix are kept.';
        CREATE TABLE IF NOT EXISTS "memberships" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "role" VARCHAR(16) NOT NULL,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_memberships_project_7912e4" UNIQUE ("project_id", "user_id")
);
        CREATE TABLE IF NOT EXISTS "web_sessions" (
    "digest" VARCHAR(64) NOT NULL PRIMARY KEY,
    "csrf" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "seen_at" TIMESTAMPTZ NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "web_sessions" IS 'A browser session: the cookie holds a random id; only its SHA-256 is kept.';
        ALTER TABLE "projects" ADD "no_self_approval" BOOL NOT NULL DEFAULT False;
        ALTER TABLE "projects" ADD "members_can_approve" BOOL NOT NULL DEFAULT False;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "projects" DROP COLUMN "no_self_approval";
        ALTER TABLE "projects" DROP COLUMN "members_can_approve";
        DROP TABLE IF EXISTS "users";
        DROP TABLE IF EXISTS "api_tokens";
        DROP TABLE IF EXISTS "memberships";
        DROP TABLE IF EXISTS "audit_head";
        DROP TABLE IF EXISTS "audit_events";
        DROP TABLE IF EXISTS "web_sessions";"""


MODELS_STATE = (
    "eJztXVtz2zYW/isYvdSZUTyOb8m6uzsjO07jbWxnYmXbadOhIRKSUFEEA5BWtEn++wK8kw"
    "JlQSJlisFLUwM4IPUd8OBcga+dKbGQzfZ7Lu6TCXI6Z+Brx4FTxP9noa8LOtB10x7R4MGB"
    "HQyGLjY8MSxohgPmUWh6vGcIbYZ4k4WYSbHrYSKe0uk5oPf+CgQkZ4A49hxgj4G7t73nhy"
    "enADoWgICNCfXAA2aYPwW4FA3xFwApAhPkevviQRYx+ZOwM6pwTt/Bn33Ef80IeWNE+cx/"
    "/sWbsWOhL4jFf7oTY4iRbeUgw5aYIGg3vLkbtH38ePX6TTBSvO/AMIntT510tDv3xsRJhv"
    "s+tvYFjegbIQdR6CErA6Tj23aEetwUvjFv8KiPkle10gYLDaFvC3Z0/jn0HVNwAQRPEv85"
    "/nf0aplhhnFz2zfuLvuG0VngnniFAvhRk0kcwXnseAKor9/DeVNAgtaOeMDF296HvaPTZw"
    "EEhHkjGnQGcHW+B4TQgyFpAHqKcvDvAs4XY0jlOMfjC0jzF10H47ghBTld4jF8MUA1QNqZ"
    "wi+GjZyRN+Z/vjh8tQTj//Y+BDDzUQHOhH+T4ed6E3Udhn0C7xTf8KNQQTilaCPGp6tAfF"
    "qO8GkRYAuPEPNUAE4pqgH4cUGxNXhPj1eA9/S4FF7RlYcXfXExlyYGlED8moPk4SmSw5yn"
    "LEBtRaT78f+sAHwEa1MW9hKk+1fXl3f93vV7Mf2Usc92AFevfyl6DoPWeaF1r7jok0nAb1"
    "f9t0D8Cf64vbksCvlkXP+Pjngn6HvEcMjMgFYWk7g5bspx2YbMM3yGrDX4XKTVnG4yp02K"
    "BO5r8DlPWQGXG7dT8R9o3XJNN1qBO8L26GNZynX+eVJDplBfOZ6c2xmKAqs5XLvI3JF4ie"
    "eHL45fHr86Oj1+xYcEL5q0vFzC76ubPt8XhakynEjVaAHXIrpvCEV45PyK5gHIV/yNoGPK"
    "9OfIPvwYTbNj4H6PV0/cmi5LCmeJbZddVPy381+MvFBX691d9F5fdgKEB9CczCC1jBzUoo"
    "cckkJLMnaxa3o4LbZAB44CcMSvEO8cW+W+hb3LBxS896LNnvZ2l1rtYpyBxMDV7XY+HXKs"
    "58K+7oIxZOPn5pgDiCxAkUmodRY0gn/Fhvcetw4eMPFZ2P7tGzChQxxsQhtQMnsmNeRreU"
    "jFlv05HpXKolXFULTkmqurhzLoH4eHR0cvDw+OTl+dHL98efLqIBFGi13LpNL51S9CMOU2"
    "lVBSdZdY/Oo7f2t3/B3Z4VdS7LikIZItqNwMTgja6Gaow5UTABbCpApzQtVGrCt36QROZ6"
    "m6Wg5zlmYtkBtmc9bt14GB31pxIUcUdS3iNvnNXEr+RqaSXzJDUtMKfkKAj1YB+Kgc4KMF"
    "IQEp1zyVRERC0T4BcXhysgLAfFQpwkFfHmLTxpHVsyrEKUX7IK5eRgTmMDdJ1TDOU7UP51"
    "qWsoU8iEODPY/zf+5ub0rCRClJ0fTBpge+ARuzXfSELQFXgJGzd2JM9657vxfhvnh3e140"
    "ZMQE54sR0AdDOBIUg6ApUQuV5uqFiSrCGtxHwF3w9j6hc/ItgnkX2kJn93HX5Dge96hjsj"
    "9GIHAR/sQAcqwuIA4Snr+zyJXIWQFsYk4YwF4XMAI4O0yfUr4ngRnFHqIMOOgBUTAkdLLo"
    "k6xh/ordkT+KL3KjeEh3iZcxiAqryqQckRZMK0h9k/gy7XGZNz0h2V5c76DeRbwFh3pDNo"
    "PXyMZc7M1le0HSt3QrsMJRGK0aowIzNBgTMgER5Rx4Y+gBFzKGLCCmGmITiuFnYCZ6TP5a"
    "3SBBNPjzAroi6gkszBuwN+YiXRKkquMpn5xPjthpKJyBAbHmAMe7hkhP/Rncuz4b34Mx4c"
    "jzxyH+NCqeJprBHkXDLt93plOxBYkmRPm/0BuzZ2JHgp+c5FVN/uABfw5ybThHVtl+9Gfs"
    "4YndlJQ8YCsM+MZzia6/dIZskzJks2xScOUlNC3cx2rI4sysfwWcC2RthLqOSBZ6UPQ5JQ"
    "QtRLh6pYz4Ht84lKKEGZIWQly9vKAIMln4qo++lKi9KUUbXKbLMhcuf+8vd+IliQvvbm9+"
    "iYcXPXt5vLly5fmMw2lJlnWpqVGg0omEieGc3flcm8ynXL5K975yfW6BcAPVbndW96OKXE"
    "Zx82Xeh3KHfzx+I2//7iBZi7Of4f8pCYhouJYMEslAkYm4drtOrn6BtIWpey1O1s97CVbd"
    "Dgq+hQrN/OaKsEc2gyX5+qXpOcop++/TmXYT2Eez9vMrq0mJ+68TFagjdYgmvd3lLtF43G"
    "o+0XKAHw9CFX2AoYYcuvykPj6GPqu59yOC1kSonjhbvvk+1kaK3ux+NuEvr+ILicdrR8gK"
    "jpBIgCjAm1K0L4+3DkfTUAXcaHgbXEzbSDANwmsq+KYU7YO4ekf0A6JMMcs/Q9JghDsiXC"
    "sSYX9igD8Z2Z2mLGkXu8jGjsQJssTxlKHRqaabeJ88bicoJfmmFBr4TYE3gh+rFh7IUrUm"
    "H6kyDyB/2mgkyzwoX9AZEr2iN1jRFNkIMqUYboakwVtnk/Q/ilxCJfpf+fJOKXSUZoPFTW"
    "xbeOAMj6h4NwpkOt5YyKqhVFaBX56SkBC0QVxsPSMBIcdgyKTIk2h85aAX6TT26tiLUvAH"
    "ZDCbSIR3ufwokFUoP1rgJQ10B0MkI6ulmhbp2rCet5ACGcIWnVG5iPcjRx4WifWZh00+Gk"
    "ecZiX3g5WaplkSbZcW7VJ9iGQ51O3NS2EepOtxPU+phWWTheUQO5iN12JzgVTzucl81llm"
    "OsusPVlmGcWejAxz7DsTiVZ/HtG++fUDsmHJcWYR4u/I6EJM0yLIv9eZi5fgJcnEy2JZno"
    "eX59wqpckD6JljQIaAk0Zn2bKw/Ff8dmT6wt8ATJ8yQhm4H2LKPCP8c38/OGwg/ONeVpFc"
    "3eSiEPleZDXdixLkexHqZfdgT+ScnQWFx0EL+JsEZ/IO5sBBs6DpGSAU3AdhsmS8OCpD+H"
    "QBGYjv5Rmf/Vy8qTgzY4KQy8S9PIIiqqCmYlXwtim2bVGHGz6L90AwRDPA8baoOAmYzFh5"
    "4bKkSCX9tZsVLOuDf0XfNlIZczxT4kORsk3lGlthSuFclHV4UCDULFibBTofNXGtruJYLX"
    "erLjhVhehRicXE41uB7LaDMI0oHN0hJqxvxlm5QpINLbl8VcpuwvuoMbewxJpUNXSNpgNE"
    "2Ri7HYmtkuldaq1Mk3E1VA0Vy4Tii1M20rR/FDW7tjPtKLHVEsKi8a3Y3uoutND+yBqSCv"
    "S9XzXf+6U9vNV6eIuLtwJg9Z1qT6FkxctZomFlVnq5ehUtlvorspVUqGZV/rbhdMWnvX+8"
    "SVc3V35DisiVN3xqq3hksjRtyCTctlNmQPlmpHTmdUqxPTOBrzzs1CUntlA3ouv8nqhwJD"
    "mH35yrrPEC2RYXOh/qo+2s9OpNYhHONaKqMslqL7XhFui2Z8md1AV1xRmsHI24mklleyyQ"
    "6R1SfYeMDnqPSnBUwF+kbLJjrdO7vBOXKT//5eIamNjl1ofHf1o3OoLetQUHeEOnkVwKHf"
    "gG3zWVzpYpkLXh+9iCOhOFEgwTOga3iCl5kJhE54Rwge7IcS+ZoYD/gE9R1weStGxXRJ3f"
    "3r7LLf7zq+Lq/nh9fsk33oAhfBAO3SOLW4JDuGSxhxF+UGI2LWWBjFzjr4B/cLeGik6fEO"
    "hS8A1O7iA+NZVOq0kpNO4bWFLhdWbG2lkcpRPosnxdrKaL1XzXWpPreUrN9aZwXVLVlBQ1"
    "rHg128J9Q1jmV1GpEsleurZjy6C0SkSeZLgxUC1Me5NZcXFC2PpQ5TPQ2ghV6bEtKjDdJW"
    "6gtkBUZzw+QksSjk9xLI/GZxi2Sl1WFLwHIdkZkLvCwID4jgU8Eo/vAvFqwaWOEzQH2JKV"
    "ZVU69wqplwFausKpQZUcTU0meGq1rv5Dcx6g7UsALnfZJwStQHjbTnguqBTvw0wpWgF43Q"
    "FWbSSWQ98uI1HG9YFSDkOeqo2fVx07hs7q16eMNClburl3WQVp6hLzLE5fLzfORAZ4w/Kk"
    "fxR7p7ZSM8FTVWsmS9O+9OjKL0dxIWMzwj/bMZTdE1uO8wJhC5WBeo571/WT9dkyFmbil8"
    "v8T8vSVrJkOl1FIV1Fh5XLl/pu2o46rPwjcr3SsLJHJsjZMK7Vc3FfTLODS0DHSauOkzJx"
    "CPmGOP2GBnfhRG3CqU5bPIOYxCLP41lul8/QwMhycKUTLcU5jIiCiC48HtIkZIIREHc8iJ"
    "McKXQsMgXY+hkQLm4B9hi4e9sTUVBxvuQEuZ70PMsKp97AXWDhEWJKd36mFNqqLbFqyx0J"
    "JqNKF9jG41toc1XvQtA2QNu0wZXuQRA3SK1xCUJK1kJ+7wh/Jdq+xMjTpybVe2qSPtlnh0"
    "/26SGKzbFMMY56lirFMB2jo1W79DkvUzKf4J75pn3UWwifiI9KAeFoeAvRfXFwsEr05OCg"
    "PHwi+haONvGkJ/yWV0JmSPSpMoq1kAru1eo3s+//B6+SQfg="
)
