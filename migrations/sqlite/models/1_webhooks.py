from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "deliveries" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "provider" VARCHAR(16) NOT NULL,
    "delivery_id" VARCHAR(128) NOT NULL,
    "event" VARCHAR(64) NOT NULL,
    "outcome" VARCHAR(16) NOT NULL,
    "reason" TEXT,
    "status_code" INT NOT NULL,
    "deployment_id" CHAR(36),
    "push" JSON,
    "size" INT NOT NULL,
    "received_at" TIMESTAMP NOT NULL,
    "project_id" CHAR(36) NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_deliveries_project_bf931e" UNIQUE ("project_id", "provider", "delivery_id")
) /* A webhook delivery that passed verification: what came, and what Capstan did with it. */;
        CREATE TABLE IF NOT EXISTS "secrets" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "value" TEXT NOT NULL,
    "key_id" VARCHAR(16) NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "updated_by" VARCHAR(128) NOT NULL,
    "project_id" CHAR(36) NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_secrets_project_76a0c2" UNIQUE ("project_id", "name")
) /* A project secret: AES-256-GCM ciphertext bound to project, name and key id. */;
        ALTER TABLE "deployments" ADD "report" JSON;
        ALTER TABLE "projects" ADD "deploy_tags" VARCHAR(255);
        ALTER TABLE "projects" ADD "source" JSON;
        ALTER TABLE "projects" ADD "paths" JSON;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deployments" DROP COLUMN "report";
        ALTER TABLE "projects" DROP COLUMN "deploy_tags";
        ALTER TABLE "projects" DROP COLUMN "source";
        ALTER TABLE "projects" DROP COLUMN "paths";
        DROP TABLE IF EXISTS "deliveries";
        DROP TABLE IF EXISTS "secrets";"""


MODELS_STATE = (
    "eJztXVlz2zYQ/isYvdSZUTyOfDbtdEY+krpJ7E6sHtOmQ0EkJKGiCAYErahp/nsB8CYBWd"
    "QViuWLbQJYgPyw3MVe9OfWlFjI9g6vkY0fEZ23XoLPLQdOEf+j0NcGLei6SY9oYHBgy8FW"
    "MAoj2QwHHqPQZLxnCG0PtcUAz6TYZZg4YnwXzNBgTMgEhJRzwMaQARd6HrKAmGqITSiGvw"
    "Qz0WPy22oD6FjB5RV0PQYdYGHegNkYYHYolraIydfGzmhrq3xwPji9MQIUzsCAWHOAPeAg"
    "PheYIJd9B/qu7437YExsy+PLIb4aFauJZnBA0bANTDKdYtaWTYjy35CNvWfAIwB+cOJbNf"
    "nCA74Ocm04R5Z8PN/BH31kMDJCfGrKH/LPP1suJX8jkxnYEkP41SO2eF873pa56PrrL96A"
    "+fSf+CZxOnHpTowhRraV2fhgGtlusLkr23755fb6lRwpZh0YJrH9qZOMdudsTJx4uO9j61"
    "DQiL4RchCFDFkpdnB82w55J2oKHo03MOqj+FatpMFCQ+jbgqla3w99xxTbBuRK4sfJD+Gt"
    "pYYZxt19z3i46RlGq8CD4hZyDBM2mcQR/IsdJoD6/CWYNwFEtrbEAlc/dt8fHJ89kxAQj4"
    "2o7JRwtb5IQshgQCpBT1BOb1MW66sxpGqs0zQ5xPkNr4J11JCAnbywEYwRUFuAtjWFnwwb"
    "OSM25pcvzhZA/Wv3vUT7RYA24fIlED13YU9HdgnQE5DT/F8C5xxZHaHuXCyDdedCD7boy6"
    "LNhaDDyuAcE9QQ4bOTJQA+O9HiK7qy8BKfccWBygCcIqkhxJuXFxRBj99RAeEe+sTUCCcU"
    "KwEcqraq4LsAz97N7z0x89TzPtppHA/edX+XEE/nYc/b+7vX0fAU7ldv7y9zePPDFfM9Dq"
    "elYOtbR4N5jioHPA5Eyr5x9kjcxPPOi5Pzk4vjs5MLPkTeaNxyvmBzbu96Bc3n2mQ+5fJV"
    "qfv057kC4RpHu/3h7icPcqmDGz+0FwH96eH+TnNoC8fncLSwycC/wMbeMuy6P0gKIBbLib"
    "xIyEEuJijICfxPKQERDm8kg0IyUGQifrq1DKg4q11zXBieIp2yy5DmOTqkPYz+2EewuT63"
    "7h17Hr5zixTi7bubh1733c8Zbr/u9m5ETyejEaPWg/xhJJ4E/Hbb+xGIS/DH/d1N/qWIx/"
    "X+aIl7gj4jhkNmBrRSFnLUGqGWlVsZL8Gy6iDnW9igmV9dEfaEMhCOk+FEZ9QLtIoAvyIU"
    "4ZHzBs0lzLeOcCuZKiEVut1+TmbaT2CT1oQ/KZzF/qYcZ3EE+HMjFhg03Yer7vVNS0I9gO"
    "ZkBqllZDAXPaRDci3x2GLXtDPNt0AHjiQ+4kHEbccuz+gI1FI6ROPe9mKXaDRuOZ+oHmCF"
    "0y/ny8v7AIMTcuDyU/r4PPSxyKSXeKRXqQHB0xo13Or1HHzbV6ffdjrHx+edo+Ozi9OT8/"
    "PTi6NYrxa7FinYy9vXQsdmpHqkdPXev+r7WCspetP6bMJvvowvJBrfOEKWcISEAqQEvAnF"
    "tgDeqZTYuqNpWAbccHgdXExZZDunp0tAy0dpsZV9WXCD8FoZfBOK+kG8eUf0I6IeVrlJ9Q"
    "CnSCqMcEuEa30P0W88wFdGdqsqLO1iF9nYUThBFjieUjRrOZ+qpvx27n1i3E5QKEM99AlF"
    "A/y6wBvyYcuFB9JUu3MCHm1Lnm/YA8hXG41UmQd6hk6RNBy9BkdTZCPolYrhpkgqrDqrdP"
    "6jyCVUcf7Ts3dC0URp1mBuYtvCA2cwUsa7kSNr4o25rBpKiUJW61MSYoI6iItdZyRAk+FH"
    "ZHg2UQgQPQ/nyDbIwzXw1En9ZYiE2HLpjnm6OvDzDtLwAtjQJxdTldWyOMRbIN5AkLdiW7"
    "AnMd0Ik4VBXYoesdoXozWP0iSNbZS3jUyKxJOvkByRpWxyI6ryHi2TG+ExSFfb9SxlIyyr"
    "LCyH2MHeeKVtzpE2+1zlfW4ynZpMp/pkOqUO9mRkmGPfmShO9Zch7as375EtKxr1iL8loy"
    "sxTY0g/7LNfLAYL0U2WBpLfS5YdueWKY8dQGaOARkCTgooMgm1vKAEVTw7Mn3hbwCmTz1C"
    "PdAfYuoxI7g8PLRhfNFXVcVubnJRDNsXmTV9UQbbF+FGrw8ORN7TS1n8KlvA34T/ssBgDh"
    "w0k03PAKGgL0M18XjiICD8ioAMxPvyjM9+Ke6U3zeYIOR6AAJJEVbxUsEVvG2KbVvUggZr"
    "8R4IhmgGON4W5atSMvP0xbOKQonkadcrml2UT6fUMk063YrpdJk9K7UPeco6lQzsZFNS6g"
    "muuAc5wmYLVt6CJicydq0u41jVu1ULTlUhesoEYaLxtUB210GYShQv7tEmrG7GWZlihjUt"
    "uWxlxH7C+6QxV2CxKlWuRLa0wlBJmdl6OyW0VLdfsNJ8fGYHEVj9eVn+LnFOiMZvRpt9XY"
    "Mlmxx9vExy9LE+OfpYlXxk+NQuc1hI09QhyL3r88KAcsWkKMrXM3RCsbsDGuc87GxLTuwg"
    "ra5Jg/5KeXV8eW4dU+SY8zI8niPbIaPzoT7aDadvvjRLeBqNMOlWwe1aL0aBbnd+jNNtQb"
    "3h5AqORpTsWUY95sgaDVleQ4bfwTQ8ZFKksPX04Bcpq+zSaHVvHp53Ts+ev756B0zscuuD"
    "8Udrh1/odG2xA7whHxSpxi4FtqXBtWap0tscWR3ej12U1ImPrpY5zcQETY3AGiVdxKdmqT"
    "LGhKLBfY0zpDwJMmNl16p2gqZeo8kgbTJIfddacdezlM2uV2XXFamGcaZRwaH/VOpW9vv4"
    "q6dupb/Gv2dsoE3dUkf+1gaqhrGo7ElKGmRrwvQQW3V1gWib4bUQLUV0LcFRH1xLbdgyGY"
    "BhLA4EZC+B2rIFA+I7FmAkGs9NXX5r8l9YTNAcYEuVALjRuZf4nxQSrSaXrkI5Q1WNDX7t"
    "s8r2yzMfoe0rANZ74GKCWiC8a58aF1Ql//tHQlELwLcdL2ksHz309bJ8VLs+KBWSzFLV8f"
    "XahsZo6tmaerYqpUBW98vdXUSxOW4pDLSwp73IQIPJmMrkPv5fjJ41cwz05sxX+Fhp1d7r"
    "HQRTxUtVAuFweA3RfXF0tMwB4OhIfwAQfYUEMKZM0ddHTVMkTe5dybhpCQ//5pXZl/8AsC"
    "1NkQ=="
)
