from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deliveries" ALTER COLUMN "outcome" TYPE VARCHAR(16) USING "outcome"::VARCHAR(16);
        COMMENT ON COLUMN "deliveries"."outcome" IS 'DEPLOYED: deployed\nIGNORED: ignored\nPING: ping\nFAILED: failed\nREFUSED: refused\nBAD_PAYLOAD: bad_payload';
        ALTER TABLE "deployments" ALTER COLUMN "kind" TYPE VARCHAR(16) USING "kind"::VARCHAR(16);
        COMMENT ON COLUMN "deployments"."kind" IS 'DEPLOY: deploy\nROLLBACK: rollback';
        ALTER TABLE "deployments" ALTER COLUMN "status" TYPE VARCHAR(16) USING "status"::VARCHAR(16);
        COMMENT ON COLUMN "deployments"."status" IS 'PENDING: PENDING\nIN_PROGRESS: IN_PROGRESS\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED\nROLLED_BACK: ROLLED_BACK';
        ALTER TABLE "memberships" ALTER COLUMN "role" TYPE VARCHAR(16) USING "role"::VARCHAR(16);
        COMMENT ON COLUMN "memberships"."role" IS 'OWNER: owner\nMEMBER: member';
        ALTER TABLE "projects" ALTER COLUMN "concurrency" TYPE VARCHAR(16) USING "concurrency"::VARCHAR(16);
        COMMENT ON COLUMN "projects"."concurrency" IS 'QUEUE: queue\nREJECT: reject\nSUPERSEDE: supersede';
        ALTER TABLE "users" ALTER COLUMN "role" TYPE VARCHAR(16) USING "role"::VARCHAR(16);
        COMMENT ON COLUMN "users"."role" IS 'ADMIN: admin\nMANAGER: manager\nDEVELOPER: developer\nVIEWER: viewer';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deliveries" ALTER COLUMN "outcome" TYPE VARCHAR(16) USING "outcome"::VARCHAR(16);
        COMMENT ON COLUMN "deliveries"."outcome" IS NULL;
        ALTER TABLE "deployments" ALTER COLUMN "kind" TYPE VARCHAR(16) USING "kind"::VARCHAR(16);
        COMMENT ON COLUMN "deployments"."kind" IS NULL;
        ALTER TABLE "deployments" ALTER COLUMN "status" TYPE VARCHAR(16) USING "status"::VARCHAR(16);
        COMMENT ON COLUMN "deployments"."status" IS NULL;
        ALTER TABLE "memberships" ALTER COLUMN "role" TYPE VARCHAR(16) USING "role"::VARCHAR(16);
        COMMENT ON COLUMN "memberships"."role" IS NULL;
        ALTER TABLE "projects" ALTER COLUMN "concurrency" TYPE VARCHAR(16) USING "concurrency"::VARCHAR(16);
        COMMENT ON COLUMN "projects"."concurrency" IS NULL;
        ALTER TABLE "users" ALTER COLUMN "role" TYPE VARCHAR(16) USING "role"::VARCHAR(16);
        COMMENT ON COLUMN "users"."role" IS NULL;"""


MODELS_STATE = (
    "eJztXW1z2rgW/isavmw6k3bSJE272XvvDEnclN0EcgPZ7kt2HGEL0GIsr2yH5u72v18dv2"
    "NkggET4/pLApKObZ4jH+m86u/GhOnEsN80LdpjY2I2TtHfDRNPiPgw17ePGtiy4h5ocHDf"
    "8AZji6oODPOacd92ONYc0TPAhk1Ek05sjVPLoQzu0miaqHnTQh7JKWKm8YSoY6Pup+brw3"
    "cnCJs6wsgeMe6gR2pTcRdkcTKgXxDmBI2J5byBG+lME3ei5nCD13RN+pdLxK8ZEmdEuLjy"
    "73+IZmrq5Auxw6/WWB1QYugzkFEdLuC1q86T5bXd3bUuPnoj4Xn7qsYMd2LGo60nZ8TMaL"
    "jrUv0N0EDfkJiEY4foCSBN1zAC1MMm/4lFg8NdEj2qHjfoZIBdA9jR+NfANTXgAvLuBH+O"
    "/xM8WmKYqrY7PbWr9FS1Mcc9eIQU+EGTxkzgPDUdAOrvr/51Y0C81gbc4PxT83bv6OSVBw"
    "GznSH3Oj24Gl89Quxgn9QDPUbZ+z+H8/kIcznO4fgU0uJBV8E4bIhBjqd4CF8IUAGQNib4"
    "i2oQc+iMxNe3hx8WYPxz89aDWYzycGbinfRf13bQdej3Ad4xvv5LkQfhmKKKGJ8sA/FJNs"
    "InaYB1OiS2kwfgmGIzAD8vKLYG78nxEvCeHGfCC12z8JIvFhXSRMUSiC8ESA6dEDnMs5Qp"
    "qPWA9E34YQngA1jLMrEXIN1rXSvdXvP6Bi4/se2/DA+uZk+BnkOv9SnVupee9NFF0OdW7x"
    "OCr+i3TltJC/loXO+3BjwTdh2mmmyqYj2JSdgcNs1w2cC2o7o20Vfgc5q25nSZOa1xAriv"
    "wOdZyg1wuXQrlfiBekfsdIMZuCNsD16WhVwXrydXZRvqlunIuZ2gSLFawLWLzB3CQ7w+fH"
    "v8/vjD0cnxBzHEe9Co5f0CfrfaPbEugqoyGEu30QDXPLofGSd0aP5EnjyQW+KJsKnJ9s+B"
    "fngXXGbHwP0azp6wNZ6WHE8j3S45qcRvF7+YOP5erdk9b14oDQ/hPtbGU8x1dQZq6GGHLN"
    "USjZ3vmhxO0i3YxEMPHPgV8MyhVu7q1FEeiffc8zp73Lu/UGuHcSqBgcvr7eJyxNRfg369"
    "j0bYHr3WRgJAoiNONMb1U68R/TtUvPeEdvBImWv77f/8gzRsMpNq2ECcTV9JFflCbrJhzf"
    "6MDjNl0bJiKJhy5d2r+zLo+8PDo6P3hwdHJx/eHb9//+7DQSSM5rsWSaWz1iUIpplFxZdU"
    "+ws0/vwrf2VX/B1Z4Zfa2AlJwyRLULYaHBFU0cxQhCnHA8yHKS/MEVUVsd64ScczOku3q9"
    "kwJ2lWArlkOmfRdh3s2a1zTuSAoqhJXCW7mcXZn0TLZZdMkBQ0g18Q4KNlAD7KBvgoA2Cp"
    "mMh2E81SreEuKhfY6/iGEnIXc7GZzyV1I4rqydzDd++WmLNiVOak9fpmIdYMGiiSy0IcU1"
    "QP4s2LXc/CILT8fBjPUlUP50Kmsk4cTH0byCzOP3Y77QzPW0yS1iap5qB/kEHtXTQuLgAX"
    "wJhRIUNM966bv6ThPr/qnKXlNFzgbN6p/KiCbSbf9iJBVEE9ZPPCJC/CNbjPgDtnQH9Be+"
    "8ngmetknOd+89be0fhuGdtvb0RQZ7V9TsbEVPfR8wkYEw9DayzghXIYNrYRtTZRzZDgh2a"
    "y7lYk9CUU4dwG5nkkXA0YHw8b+Yt4PobtvB+K+bdtVxM+wsMt56jPa9MmiGqBdMSUl9jrm"
    "z3uMhBEZFsz1V6UOwk3oKPoiSLwQUxqBB7T7K1IOpbuBTo/ihKlnX7oSnpjxgbo4DyCTkj"
    "7CAL2zbREVxqQDUMw0/RFHo08Vj7Xsyt9/UcW+BIRjoVDdQZCZEu8fsVcZd7896ElYbjKe"
    "oz/QnRcNWAiN8f0IPl2qMHNGICeXE7Iu7G4W7QjPY4GeyLdWcygSUImggX/7Ezsl/BioTv"
    "zehRNXHjvrgPsQz8RPSs9ej3tEGHs0eq+z708FrQ9UcddFymoOMkm3JYRyOaCq5jBQTGJu"
    "Z/DpxTZFWEugjnIHnMaXOKCCqI8OY3Zcx1xMKR4XhVTHcyF2A1A3aCvMxwNy6Um6vOr8rF"
    "qVi0LYOJle/ebF22O7fQRIcm49By02pfniJL8OPe/NhsXUHnAFMD+m6Vj3ddaBCLLQTl3p"
    "tnzQv1pvnrVacpWvtYVy38ZDBfb315KcUJtmV+yB75krHZjimqYKhdFIKi/NJbbDqMIlCu"
    "Ou3LcHjanjiLt3hBHNcWcOqSlylTwUlR1RGhkbqeXG/hjZ0IqZ7TJzlHWKhbsiyzO4dfEl"
    "SFPG6GcPxaPobdQbIQF4NN/5dLQATDa8kgkQycaETsqVdJukiRVjAGs8JZFy8colI2Tq++"
    "GCxIvMiMs8qde3ETX2k3gX02/WJ2ZpUpA+Mi2gI1pGbYqHd/sSE2HLecJTYb4OddX2nLo7"
    "9D9g2NUsuiTf7K51QICCrjF3vhtIfyW3ZLKXqT69lYPPyqFpiQdgfML6Hx5d687VxdnTXP"
    "fzpFnBkGiLpyGE0CYbMiK2LqEgdyN26U9oVn5wo+3Juttnpz27m8VbrdU5T4cm+ed65vrp"
    "QemL2ij7FpzP8vRjXb58qV1xR99HmsXKg+mxNfysFpTgZ5jMrB8CoYxrYRjOu5IvPgG1NU"
    "D+LNG+0fCbdzJpkkSEqMcANc2xA0/J2NxJ2JsYqwKGRKW9QiBjUlppsF5rIETR2Wu47NzB"
    "HaTa6A6JiiBn5d4FXvx+ZzaiSpKhO7tTG7pbjbcCiL0sie0AmSekavMaM5MQi2cyUaJ0hK"
    "vHSWaf/HicW4ZP+XPb1jitq3tMbkDpRp1WF5bDIpstpLmopA4lxWACI7kCIiqIK42HocBS"
    "GmahONE0ey48sGPU1XY58fe6hE8EhU22AS4Z0tP1JkG5QfFbDtensHFQK384XlpumqMJ+3"
    "EC7qwxaUSJ3H+5mKm2niuuRmmSszQTE1uR0sUzVNktR6aVovrWuYZkNd3Wga28F8Na7PUt"
    "bCsszCckBNao9WYnOKtOZzmflcx8bVsXHViY1LbOzZUNVGrjmW7OrPAtqPP90SA2dU0wsQ"
    "v2LDc7hMhSD/WmQEYYSXJH4wiWV29OAs55ZJ4+5jRxshNkCCNCilbPup0vDbieaCvQFpLr"
    "cZt9HDgHLbUf2vb954hRn8Lw+y7O3NXRySth8g/uoB0rUfwNVrP6A9iJQ79ZK0vRb0J/NK"
    "QvefkEmmXtMrxDh68Nxk0XgoKwI2XcT68L68Elc/gyeF+iJjQiwbjoUCiiDbnMOsEG0Tah"
    "iQs+zfS/RgNCBTJPDWORSiZlM7O8lbkloT/9r1krvrutPQt40AzBme5eJDmrJKSSZbYUqq"
    "hswqPEgR1ixYmQXZUbRy5HchcnZF0+oyhtVss+qcURVETx5fTDi+Eshu2wlTinTXHWLC6m"
    "qcPpP+sqYmN5tLs5vwPqvMzU2xMuU6XZNJn3B7RK2GRFdJ9C7UVibRuAJyndLJTeG5PWvt"
    "tL+VbXZh9f84M1YugBLSlnmpa3Q+t5VboWJOxdPcm9fK9Rl89Wd6WkN+mXSM2mpZQOhBfT"
    "hdwYfT1XbgzdqB05N3A8DWB/+9xFYsnM6SfVhipmdvwoLJUny2ea6NVrmymqtQrzI89H5Z"
    "k004vnrni2/8GB+IqFddbuSx2yRpqhBvuG3TTZ+LxShXFfGYYnsKhJh51CxKTmwhu6TOBn"
    "yh9JLoZAPtaVV1OXWJLU56MdQlOWd94793yp1yijxaKAH6o3LegwqgsDm5N7t3N8ptV7kQ"
    "I2zXIlCQm5RDnQaHsRrkrUnelEz9b45ue1rgu6IE0oZjZAUayZolyy6tKbJ6dc2/ugZl94"
    "Mknzzgz1OW2lzXVLpwWvjry/NrpFFLaC6O+Gn7wYEAlgEcEA3LiZqXcV+pYsXNqKOzyHkV"
    "kVXh/djCVihwVqgaNlWhTXP2KFGnzhgTAt2U455xhRT+fXGJol6QqGW7Iuqs07mamfxnrf"
    "TsvgM7+d5bjyFiEPVNK/NLgsmEZDEGAX5YonItZIGMvMY/B/7eSSd59IGIoE42X6M2CHO5"
    "lqseTkxR476GFuYfLqeuHCeSeYE68b9Oh6vT4VxLX5Hrs5Q118vCdUneVJQ2seRBeXOnP1"
    "GZXSVPHkryCLwdmwaZeSjyMMa1gapgYJ1MiwtDzlaHajbGrYpQZRaGyQNTNzIDVQWiIn35"
    "AVoSV36MY7YnP8GwZTK/Asc/8slOkdwUhvrMNXXksHD8PoJH847YHJMnRHVZ4tdGr71EcK"
    "eHVp1DVaJckbIGIrz0tq74sjyP2HAlAGeb7COCSiC8bSO8EFQ5TyeNKSoBeNEO1lpJzIa+"
    "WkqijOv9jPiHxRzvbznkYbdXjDojoK5jUqZI6/Ke8eWFuEvUszD0PVs5g+jxksVYfyv6Tm"
    "HJbMDTvNpMkqZ6odUbP37FwrY9ZeK1HWHZ+bnZOM8RVnAzUExB+apnaDYvrlvtU4T1CTXv"
    "zetmu3nppWh6Mp/fmxfKz8pV5wbadPJIDGZB688t5TM0PVIyLUsmp05twE5mzVoUBJMkq4"
    "NfcgS/1E7q7Km+m5po7aT+Frm+USe1w8bEXNNL1rRoDy6zg1Og9rpu2utqQ9H0NXH6TPpd"
    "/0JVwqlIzT6BmES/n8UzW8ufkr6a5OBSFTihbiThKKDzy1lqjI0pQXAmBVSe5NjU2QRR/Q"
    "fEhLhF1LFR91MTfKpQD3NMLEdaf3ODl17D+KDTIbFznVEaU9Q6coaOnG2W0Gye68DdcHyZ"
    "tbbSGCRqHaBqu8Glzm2AE69WOLQhJqsgv3eEv5LdvkTJq+s3FVu/qa4xtMM1hpqEU20k2x"
    "gHPQs3xTgeU/u+dul1XrTJTBxyv+w+M0FSwa1mIc4YeKlyIBwMryC6bw8OlvGeHBxku0+g"
    "b67IiiOtSJydV5kgqevb5MyszGFe3fxi9vX/KdVIxg=="
)
