from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "host_keys" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "host" VARCHAR(255) NOT NULL,
    "port" INT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" VARCHAR(64) NOT NULL,
    "trusted" BOOL NOT NULL,
    "seen_at" TIMESTAMPTZ NOT NULL,
    "accepted_by" VARCHAR(128),
    "accepted_at" TIMESTAMPTZ,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_host_keys_project_c15430" UNIQUE ("project_id", "host", "port", "fingerprint")
);
COMMENT ON COLUMN "host_keys"."key" IS 'OpenSSH public key: algorithm and base64';
COMMENT ON TABLE "host_keys" IS 'An SSH host key met by a project''s connections (git remotes and targets alike).';
        CREATE TABLE IF NOT EXISTS "targets" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(63) NOT NULL,
    "host" VARCHAR(255) NOT NULL,
    "port" INT NOT NULL,
    "user" VARCHAR(64) NOT NULL,
    "path" VARCHAR(1024) NOT NULL,
    "labels" JSONB NOT NULL,
    "key" TEXT NOT NULL,
    "key_public" TEXT NOT NULL,
    "current_release" VARCHAR(255),
    "health" JSONB,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_targets_project_d1a852" UNIQUE ("project_id", "name")
);
COMMENT ON COLUMN "targets"."key" IS 'AES-256-GCM ciphertext, never plaintext';
COMMENT ON TABLE "targets" IS 'A server a project deploys to over SSH, with its own key pair (the private half sealed).';
        ALTER TABLE "deployments" ADD "targets" JSONB;
        ALTER TABLE "projects" ADD "batch_size" INT NOT NULL DEFAULT 1;
        ALTER TABLE "projects" ADD "deploy_key_public" TEXT;
        ALTER TABLE "projects" ADD "deploy_key" TEXT;
        ALTER TABLE "projects" ADD "health_check" JSONB;
        ALTER TABLE "projects" ADD "strategy" VARCHAR(16) NOT NULL DEFAULT 'all';
        COMMENT ON COLUMN projects."batch_size" IS 'hosts at a time when rolling';
COMMENT ON COLUMN projects."deploy_key" IS 'AES-256-GCM ciphertext, never plaintext';
COMMENT ON COLUMN projects."strategy" IS 'ALL: all\nROLLING: rolling';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deployments" DROP COLUMN "targets";
        ALTER TABLE "projects" DROP COLUMN "batch_size";
        ALTER TABLE "projects" DROP COLUMN "deploy_key_public";
        ALTER TABLE "projects" DROP COLUMN "deploy_key";
        ALTER TABLE "projects" DROP COLUMN "health_check";
        ALTER TABLE "projects" DROP COLUMN "strategy";
        DROP TABLE IF EXISTS "targets";
        DROP TABLE IF EXISTS "host_keys";"""


MODELS_STATE = (
    "eJztXW132ri2/itafJl0rbQ3TdK0h7n3rkUSps0ZEnKBTM8LZznCFuATI3kkkzRnpv/9as"
    "s22MYmGDAxrr60QdKWzSOxpf3sLe0/ahNmEUe8a7h2jz0QWqujP2oUT4j8Y6HuENWw685r"
    "oMDDA0c1xq5teNBMFeOB8Dg2PVkzxI4gssgiwuS269kMnlJrUNS4vUJKpI4YdZ6R7QnU/d"
    "J4e/zhDGFqIYzEmHEPPdrClk9BLidD+xvCnKAH4nrv4EEWM+WTbDraYp9Tav8+JfLbjIg3"
    "Jlz2/M9/yWKbWuQbEeFH98EY2sSxYpDZFnSgyg3v2VVld3dXl7+olvC+A8NkznRC563dZ2"
    "/M6Kz5dGpb70AG6kaEEo49YkWApFPHCVAPi/w3lgUen5LZq1rzAosM8dSB4aj993BKTRgF"
    "pJ4E/5z+b/BqkWaGcdPuGd1mzzBqC6MHr5AAPygyGYWRt6kHQP3x3e93DogqrcEDLr40Og"
    "cnZ28UBEx4I64qFVy170oQe9gXVaDPUVb/L+B8McY8HeewfQJp+aLrYBwWzEGeT/EQvhCg"
    "AiCtTfA3wyF05I3lx/fHn5Zg/Fujo2CWrRTOTP4m/Z/rTVB17NcB3nN8/R9FHoTnElXE+G"
    "wViM+yET5LAmzZIyK8PADPJbYD8MuKYmfwnp2uAO/ZaSa8UBWHl3xzbalNDJwC8aUEybMn"
    "JB3muGQCaisQfRf+sQLwAaxlmdhLkO5dXTe7vcb1LXQ/EeJ3R8HV6DWh5liVPidKD5KTft"
    "YJ+nrV+4LgI/pH+6aZVPKzdr1/1OCd8NRjBmVPBraimITFYVFslB0sPGMqiLXGOCdl9UiX"
    "eaRNTgD3NcY5LrmFUS7dSiW/oNWWO91gBu7JsAc/lqWjLn+e3EjbUF9RL320IxKJoZZw7e"
    "PgjuAl3h6/P/14+unk7PSTbKJedFbyccl4X9305LoIpsrwIXUbDXAtovsL48Qe0V/JswL5"
    "Sr4Rpmba/jmwD++CbvYM3O/h7AlL59OS46eZbRedVPK7y29MPH+v1uheNC6bNYXwAJsPT5"
    "hbRgxqqGHHLFEya7tYNTmeJEswxSMFDnwLeOfQKp9attd8JOq9F232ee3hUqsd2hkEGq5u"
    "t8vuCLXegn19iMZYjN+aYwkgsRAnJuNWXRWi/wkN7wNpHTzabCr88j//RCamjNomdhBnT2"
    "9SDflCHrJly/7cHmXqolXVUDDlyrtX93XQX46PT04+Hh+dnH36cPrx44dPRzNltFi1TCud"
    "X30GxRRbVHxNdbjE4s+/8ld2xd+TFX6ljZ3UNCxlCco2g2cCVaQZiqByFGA+THlhnklVEe"
    "utUzqKdE7drmbDHJVZC+SS2ZxF8zpY8dY5J3IgUdQkrhJv5nL2b2Lm4iUjIgXN4FcE+GQV"
    "gE+yAT7JADhVTWS7ieJSG7iLygX2Jr6hiN7FXG7mc2ndmUT1dO7xhw8rzFnZKnPSqro4xK"
    "ZjB4bkqhDPJaoH8fbVrmIYpJWfD+O4VPVwLmQqW8TDts+BxHH+a7d9k+F5m4skrUnb9NCf"
    "yLHFPpKLS8AFMGImZIjpwXXjb0m4L1rt86Sehg7OF53KjwZwM/m2FxGhCtoh21cmeRHW4L"
    "4A7gKB/op87xeC46zkQuXhy2zvOGz3ItfbGxOkWNefBCLUOkSMEiBT6wE7K4cCOcx8EMj2"
    "DpFgSA6HOeVcrknoidse4QJR8kg4GjL+sEjzFtD/lhneH4Xe3cjFdLiEuFWO9rw6KSakFd"
    "MKWt9k07Td4zIHxUxkd67So2In8Q58FCVZDC6JY0u195y2Fszqli4Flt/KJqu6/dATGYwZ"
    "e0CB5DPyxthDLhaCWAi6GtomhuZ19AQ1pnytQxVzqz5eYBccyciyZYHtjaVKT/H7FfGUPu"
    "1TWGk4fkIDZj0jO1w1IOL3Z3TvTsX4Ho2ZRF4+jsincXgaFKMDToaHct2ZTGAJgiLC5f/Y"
    "G4s3sCLhPp29qikfPJDPIa6Dn4mVtR79M0nocPZoW74PPewLqv6lg47LFHQcHaYc7OhMpo"
    "LrWAGBsZH5nwPnhFgVoS7COUgec3JOM4EKIrz9TRmbenLhyHC8Nul0shBgFQM7Il5muGuX"
    "zdtW++/Ny7pctF2HyZWvT68+37Q7UGSPKONQcnt187mOXDkeffpL46oFlUNsO1DXaf5y14"
    "UCudhCUG6fnjcujdvG31vthiwdYMtw8bPDfLv19bUUJ1ik+SF75FvGZnsuUQWidlkISvNv"
    "veXU4SwCpdW++Rw2T/KJcbzlD8SbCgmnlfJjyjRwElI6InRmrkfXW/jFTqRWz+mTXBAs1C"
    "1Zltmdwy8JpkIeN0PYfiMfw/4gWYiLQdj/yaUgguZaM6RoBk5MIvfU6xy6SIhWMAazwqcu"
    "XjlEpWwjvf5isOTgRWacVe6zF7fznvYT2BePX8RnVplOYFzOtkC1VBp2Vnu4nIgN263GxG"
    "YD/LLrK8k8+jvkmmy1UEN+9/nHVMIRahfm7jJfQyBQGXfZK5+GKD/hW0qNHF3mHuTLr0vM"
    "hLJ7wMqEnEyfdtqt1nnj4tc64sxxQAOWg0sJdNCaQzGXLnF8d+22eXOp6K/gjz69ujFuO+"
    "3PnWa3W0eRD3160b6+bTV7wIbN/pwzZv7/slXj5qLZUkWzP/0xbl4a/jBHPpRjpDkZ5uGa"
    "g+ZV4Mt2EaOrPJR58J1LVA/i7XP5j4SLnGdPIiIlRrgGHm+IJf5JIPlk4qyjLAqZ0q7tEs"
    "emKYzOEhYtIqOjdTeh0jxp9OSKk55LaOA3Bd5QXzafryMqVZmQrq3RmfJpo1Fa8Eb2hI6I"
    "6Bm9wYzmxCFY5Dp/HBEp8dJZpv0fJy7jKfu/7Ok9l9Aupw0md2BMGx7Lw8kkxLTzNBGYxH"
    "navRDZ8RUzgSqoi52HVxBCDUFMTryUHV826Ek5jX1+7P3DyLk22hERrbnX19xwNcQjMYTD"
    "UpbNbM2dENui5q4Aq652bQZE0ueLk07KVUGT7CB+14ctuLN2Ee8XrkBNCus7UMt8VRbcbp"
    "fOQGaSAlERzQgkGQF9qWw21NUNbxJy97TeqMcltbIss7Ic2tQW47WGOSGqx7nM46yDFXWw"
    "YnWCFSMbezYyzPGUPqTs6s8D2V9+7RAHZ1xvGCDeYqML6KZCkH8vMqTzi/xlyPlcS4nnDK"
    "sOlwVzjmUj44E8r36Xdrf7BYEUklJoQjw0eEYYBfPoJwE3nlCiTk4LdDCyPcTJhHlEqCPv"
    "AROEsGM/kPRrtLfZf5/2+FTIGQSdCZUzSx2Xt6moy07VY9hwSODxiMJdLmyoEnB5UTFbhM"
    "f83qGGeq2hzYXXp0AnQi2cykdTGgrJv2wHCTYh0CM2TVktVLdyqR4R7srHZebtSsa1wjv6"
    "KjB0lsy62Oy8vb4KHOp2EfwaDuGq3NJsyEscrVkmT2K6HzFzcmc4EfUhKih58BeMVR0qQf"
    "Myz9Ra2yUUFhV3OnBsE/S31P3OiHHbG0/UqjHAgpydJhejcrhbovo+hw5JiJV5gEoTMRms"
    "3ylLJWMOwTQr6GYmlUB5IMWKgnlWsluj7LzdbsWm+PlVcg7fXZ83OwfvFe6yke3FVsmED3"
    "cNUmsupnnMslAfq/CY/j6YWMYgZYVZdh9+TEz72VZMohGgtkYamriophM1nbg36lPTicUC"
    "u8dnn2fEYgpTFiUds6myOMW5ygWUA+yZY6CUpGiQBE74lzwCkMScQmAOMqdcMC7QvWKVDP"
    "/ju3fqSln/w33avZPb6xyum7yHI6L3QGbdw2kUcY8OgM+oK75MlaB/M5XMbvCMKHlSRW8Q"
    "4+heRfLP2gPlBcFLiA1gJgAHdw5vCgzbAyGugIT2IBHckwkWCpRNbMeB2xb9Z8kajIbkCU"
    "m8LQ4p9NiTyKbMUi4Fmn9bTZPtB00WG7Nc45CUrBKzs5NBSdx+vc4YJAT1EKw9BNkH/TM4"
    "uD043L+mbbSKZZRtFy1YRaB68rCbYftKILtr4rIUF/Xt0SCsb6BYsYt7NrRR4rcA7Se8L5"
    "opC1OsTJbKNZkMCBdj262l2CqR2qXWymTWroBbmpJO6jDj+EY77R9lm11Y5hLOnLWvbg5l"
    "y7zU1dpfb5odaWI+ybfp0+smeBrqyJ/pq3nvir4xRvNxBZzRCbXL6hojIlElQ2QjzaEZzp"
    "0xnMnJuwVg74JuKopq5Adbpq3YDfPs4bNcQSklTtpuLN5g6YaMqqaG6bddmUOWBZ5NsZ+J"
    "Rg4i94MhVZIWiGHsOvKbhkmIDmWBfIAH/8OZWqCHsWVJ1SqIgOBF/+xzCptcxGMg0dC81w"
    "M8S5V012khE3PI5eRHW0JW+TdAPguCHWIhiN70IzWDV4C4T04suWG3JVBF5M0r122UVUg/"
    "pP5P3Y6m4xy2384W9HV3+gVnZc9KIf7SEfw0h76+GSjPXVdKP+XhEOcSVQhd2fllE/aEsG"
    "naztRhOAPxiEwC8iEIFTXL3x+9K+og8RLUL9t3560muu00L666V8GMn4WoqEoomgfidZqN"
    "VjLEFNvONPU8frbHLSKiD2qnOtFy3wgUl9LaIr+2CI+554swjEuVmQArU4ShvowgG/3qBv"
    "GG9lh+gjMqphnOF/m4jMStuXkjn6C4jXS4nwCvwstFp9j6J5njeaYTATA5TjL7yEdzW1cE"
    "+bhBNB3MOt8KYN1Ih1UCrXiaclmK9cXJ+CJRmTffepsSpLLtoiHjKgw0oDrriuObECEg6v"
    "NggsUDsd4cIux5ZAIno+EIXpA69h26fyDP9wheX6U2X6Aqi3lMn6o+DyFBOvCOQlYEj/ET"
    "r0/wA1Ghq0QOrRVJ9s58LhTeIDs+NTgmGbTTqdJLx1WmHntdEnJX/mOvZbIVdNbuCMInxy"
    "sAfHKciS9UpQYd5AE4IlIFoqFovj1YVfIQ7hERzbhvll3ix8m25RJqqXzz3eZNry43G9Rb"
    "zD1/2Wnf3qrk9Zy5LilJhvlwm5WDRI6KaBJ5MZ2xcOEgV94k8gtya0FbNgW/dXCxSLuZNp"
    "udn0tUYcF8LWZes8U/ElusLzX9MW4hiPAaC8OczVXEpbRPYLlPwJzHGG7FJRCJWdxPeF/0"
    "CMTnV/nCSmdOmUy+Nuq2eZGvDR0gK9K1F/NwSsWkYqT6sU0/WlMQ/mibBB1girrXvVtVQD"
    "hEfPYkjCOOJ2jAVASokLPPP93/nHKjZ0HP6dN7P7LqHkESDuGztirsFPmjgLBQFxEcokaz"
    "+/b4w9nbzxfXiFCTP8P1Nj8HxK4UmHJKLB1TWhYleLiEp9UxpYVxXJXPL99tqSzjAiLZ+/"
    "TyqnvR7gCLYgu4O6VPe83GdVeOKcET0afXjV6v2blud3t1NAGmgk8Y3PnbvG5cteqITLDt"
    "gEyr+bnTuAYxX1v16dfm+Zd2Wz4pCHfv08btbeeq26wjqcS5LRacWq/D2AjiefL5+VLmRm"
    "Q0rakDifeOgNChgTo0UJM9RZA9U9dac9TjknrUyzLqKdzPLJRpwVZ+Kawueu5x0xix6nEX"
    "OwgPiwXWZVIOyfC7F2mHhQDAl6mHr2PbHPvRVQKOjj6pz0FIAjqAsK4hVPPnsLCO7oO/7t"
    "WXe4NGbDH0KsY7FPWQ1PiuBJU5PyKuw7xKRR/40yGPwTOX0ObOBuaO3n7r7XcZ0N/Pjdgq"
    "22/tgyvg5qFXvs5pfzgb7dcsl19zpfDgAm93KufM3ePr60PoUwy3yKhkW2vBNyvgLkht4Z"
    "TJwtEO0sIcpJy4zJjylKVqWdToXEa7bfK7bQZcrkjjPBN6LrE7e1HOPJsWpSd2kEBT5ePI"
    "5weeSWhaZBNahFFzyjmhZgYv8nLoRaKLHU562XRKcs762v/dNe+adaRk+7TT/GvzoldHnM"
    "DmpE+7d7fNTrd5KVuIqUu4IFZJgiUgdY3B5W4Qi1wXJS3I7e6gy4eiFNLWU85KiByWFoiy"
    "HNZQRh9wyQbVsPDzOsDO5DS4i+BKPDhzHLDs8mwGE2J6P5h/PxiE1Bnze2xXBX9Rssz+hF"
    "o0Ztm0XWlre/KrHQZBy64DIyALVlscdz1KfnoNQ+4RMw7upg9RQqwKv48dbN6DRB+GiakB"
    "8aXsMYUAWJrBOqMHnc06RzZryqRmcYYBfjiFJFg6BGniGv8c+LvYG+eyYGcCGxmwJVM3O4"
    "9iZlNu5roWYy6hcd+AN1AWv2esnWMtswPtrUzdyqTeD7UkcWBMqsQbmUrsMyXMhjsdOLa5"
    "3hhFhEs8VKW1yeDZHhmtzWBG5XdIX2LHyUteNlqtOpJyfdppt1rqxh4w6GEw1rAGtk9Sqp"
    "TghrD/k+e+mLjQ7ujJ9znBH0tFHSQGh+gz9DQmNCf8W6aBxgQ73tgwxySNB8reAyXl9E5o"
    "88BSHez4IwU76rNGVRv1rZ412tYV3lW/vHtu/W0MVAWTRsfXejmVwVbYEKgvsptfSWUnVC"
    "Lp9Po4xbNcVxGq1744v5z7xhcwU767DdHqzhyAVZxWfp6/DSHqzZIFVgWiIkOzgwmVEpk9"
    "n2rZgdmROb1KOtjwAKsvVkfp/B0asCm14PBq0P5QpTpQKRDkIoZsa/HA7Jb7Tj0nG4+vV2"
    "htdEL23B5l8hqrpv8OFGF5w5p91uIvx8cnJx+Pj07OPn04/fjxw6ejGX2xWLWMxzi/+gxU"
    "RmwTH3IbZY0rf22bqvhDm4/YmaYAnE1fzwQqgfCuOWtg/dMUytKUH+kusv0EvGgqWjM02d"
    "BXi6FJG/V8x/zjUlX8eRWxYrzy2eSyIV7I4eTXODpbUmD3+OxsYM6mGGhzQzfbQItY1KsY"
    "aP79xQjPrCmfZBVgMDGo6Xa/HKIn2xurfHXsiSqrycU2RwdwibHL7Uc5O9AYO0PkX/qYcq"
    "1yUQ/q005wWAVuP5KGnuzoHmLl/is8xHL/c1AQxBDdI1sgIZ9jjomFmPwVBNcq+cBBLSx4"
    "z7uzCvWp4mqdKi7VWr79c8XgWsgDbti+guAWEiDvMp6CbyZvFDbfXSTM8XFR4G454GUq0n"
    "JSL9nYB+0rOFPPTldRA6fZauB0YZrKNTUPuGH7CoL7/uh4FXihWbbFpCrjEMtvn3oDaXao"
    "1lxi9+fcIxuHwdR2PJuKd/C819g7FBK7lTOoeg+S7u53OPV6cdRbCKAumzbaNfDhaYzAxM"
    "qzCqSIViGGfQfbQj8KN89iMJfQEbs6Yld7BnTE7o886qv4g7SPQvsotI9iFR/FnUhPBHkn"
    "Xkr/CCRLya71/FFisjYk1rL5dhjTvJx7VKZ6t3kWQLcJ8cTkz3aMRU7eLSFYCZN3BwYXZ0"
    "7GhH75jHAoW2asa43L66ubOsLWxKaQQPKm8bnZgeyRoPN5n142f2u22rdQZpFH4jAXSn+7"
    "an6FokebPPm6/vWjtyxbAHZpEbfLbrGJiunba3LcXqNt4uypvp/WkbaJf8RRz7KJ1zrF6r"
    "EHsunRsIZr96CbPZwC+sDhdqESRIjNzxp+JYOu31GVcCrSso8glmLfx/HMtvKfyMCIjuAq"
    "oYgDzp6kUYgCOfldxwSZjD3YBI2ZfHeEEcfUYhNkWz8jJtWtChXsfmmAExMi9x6I66UFH2"
    "6z6w3IB8sekXzBU3MJbSNn2MjZtIQp+DCXczJoX2arrTSEhLYBqrYbXMUGEITQNYY8IlbB"
    "8d6T8U3Z7acYeXKZTPV/ZZLkEYndxaCWnCxf4v9KD0rN7fwKHS17Bu6qnq/IpCqT26tBuG"
    "2O0zbGQc3STTGet9G+r336OS/bZD5KMzwwh1bdZ0ZEKrjVLMQZAz+qHAgHzSuI7vujo5VC"
    "zY+WRJofLezlGfWCy9BWDS6MiOiUajnDC3PQq9tfzL7/P4I7tws="
)
