from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "notify_providers" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(63) NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL /* SLACK: slack\nDISCORD: discord\nTEAMS: teams\nMATTERMOST: mattermost\nEMAIL: email\nTELEGRAM: telegram\nWEBHOOK: webhook\nAPPRISE: apprise */,
    "settings" JSON NOT NULL,
    "sealed" TEXT,
    "created_by" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
) /* Credentials for a notification service (an SMTP server, a Telegram bot, a signing key). */;
        CREATE TABLE IF NOT EXISTS "notify_channels" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(63) NOT NULL UNIQUE,
    "target" JSON NOT NULL,
    "sealed" TEXT,
    "timeout" REAL NOT NULL,
    "failures" INT NOT NULL,
    "last_error" TEXT,
    "created_by" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "provider_id" CHAR(36) NOT NULL REFERENCES "notify_providers" ("id") ON DELETE CASCADE
) /* A destination under a provider: a Slack webhook, a chat, a list of addresses. A secret */;
        CREATE TABLE IF NOT EXISTS "notify_deliveries" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "key" VARCHAR(128) NOT NULL,
    "event" VARCHAR(32) NOT NULL,
    "project" VARCHAR(63),
    "message" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PENDING: pending\nSENT: sent\nFAILED: failed\nDROPPED: dropped */,
    "attempts" INT NOT NULL,
    "response_code" INT,
    "reason" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "channel_id" CHAR(36) NOT NULL REFERENCES "notify_channels" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notify_deli_key_34a08b" UNIQUE ("key", "channel_id")
) /* One event for one channel: its message (masked), attempts and outcome. `key` names the */;
CREATE INDEX IF NOT EXISTS "idx_notify_deli_status_dd106c" ON "notify_deliveries" ("status");
        CREATE TABLE IF NOT EXISTS "notify_subscriptions" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "events" JSON NOT NULL,
    "created_by" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "channel_id" CHAR(36) NOT NULL REFERENCES "notify_channels" ("id") ON DELETE CASCADE,
    "project_id" CHAR(36) REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notify_subs_channel_d6a918" UNIQUE ("channel_id", "project_id")
) /* Which events of which project (or of every project: `project` null) go to a channel. */;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "notify_providers";
        DROP TABLE IF EXISTS "notify_channels";
        DROP TABLE IF EXISTS "notify_subscriptions";
        DROP TABLE IF EXISTS "notify_deliveries";"""


MODELS_STATE = (
    "eJztXW132jgW/is6fJnknDSnTdK0y+zuOSRxW3ZIYIFM94U9jrAFeDGyRzJJ2Zn+95Xkd2"
    "MDBkyMqy9tkHRl81wh6T73Svf32szSkUnPG7bRt6YI1+rg9xqGM8T+WKo7AzVo22ENL3Dg"
    "0BSNoW2oDm8miuGQOgRqDqsZQZMiVqQjqhHDdgyLP6XWwKDRaQIhUgcWNhfAcCjofWm8uX"
    "h/DSDWAQR0YhEHPBvUYE8BNkEj4xuABIEpsp1z/iDd0tiTDDzeY59zbPw2R+zbjJEzQYT1"
    "/O//sGID6+gbov5He6qODGTqMcgMnXcgylVnYYuyx8fm3SfRkr/vUNUscz7DYWt74UwsHD"
    "Sfzw39nMvwujHCiEAH6REg8dw0PdT9IveNWYFD5ih4VT0s0NEIzk2ujtqfR3OscS0A8ST+"
    "z9VfvVeLNFPVh3Zf7Sl9Va0taY+/QgJ8r0izMNe8gR0O1O/f3X5DQERpjT/g9kuje3J5fS"
    "ogsKgzJqJSwFX7LgShA11RAXqIsvh/CefbCSTpOPvtE0izF90GY78gBDkc4j58PkAFQFqb"
    "wW+qifDYmbCP7y4+rsD410ZXwMxaCZwt9pt0f64PXtWFW8fxDvF1fxR5EA4lqojx9SYQX2"
    "cjfJ0EWDfGiDp5AA4l9gPw+oniYPBeX20A7/VVJry8Kg4v+mYbbDZRYQrEdwwkx5ihdJjj"
    "kgmodU/03P9jA+A9WMsysFcg3W/eK71+477Du59R+psp4Gr0FV5zIUoXidKT5KAPOgFfm/"
    "0vgH8E/2o/KMlJPmjX/1eNvxOcO5aKrRcV6lFM/GK/KKZlE1JHnVOkb6HnpKzUdJk1rRHE"
    "cd9Cz3HJPWi5dCsV+4J6m+10vRF4JGr3fiwrtc5+nkRN21A3sZOu7YhEQtUMrmNU7pi/xJ"
    "uLd1cfrj5eXl99ZE3EiwYlH1bou/nQZ+siN1VG09RtNIdrGd1PFkHGGP+CFgLkJnsjiLW0"
    "/bNnHz563RwZuN/90eOXhsOSwJfAtosOKvbd2TdGjrtXa/RuG3dKTSA8hNr0BRJdjUHNa6"
    "wLK1EStF2uml3MkiUQw7EAh38L/s6+VT7XDUd5RuK9l232sPZspdXO26mIN9zcbmfdIay/"
    "4fb1GZhAOnmjTRiASAcEaRbR66IQ/MU3vE+YdfBsWHPqlv/xB9AgtrChQRMQ6+U01ZAv5C"
    "F7tuxvjHHmXLTpNOQNufLu1d056E8XF5eXHy7eXl5/fH/14cP7j2+DyWi5atWsdNP8zCem"
    "2KLizlRnKyz+/Ct/ZVf8I1nhN9rYsZnGSlmCss3gQKCKNEMRVI4AzIUpL8yBVBWx3julI0"
    "jn1O1qNsxRma1ALpnNWTSvAwVvnXMgexJFDeIq8WY2sf6LtFy8ZESkoBH8igBfbgLwZTbA"
    "lxkAp04T2W6iuNQO7qJygb2Lbygy70LCNvO5Zt1Aonpz7sX79xuMWdYqc9CKujjEmml4hu"
    "SmEIcS1YN4/9OuYBiYlZ8P47hU9XAuZCjryIGGy4HEcf5br/2Q4XkLRZLWpKE54A9gGvQY"
    "ycUV4HIwYiakj+nJfeMfSbhvW+2b5DzNO7hZdio/q5ybybe9iAhV0A7Z/2SSF2EJ7hpwlw"
    "j0V+R7vyAYZyWXKs/Ws70Tv91arrc/QUCwrj9RgLB+BiyMOJla99hZpgpgWtqUAsM5A9QC"
    "TB3anBC2JoEXYjiIUIDRMyJgZJHpMs1bQP97Znh/FHp3JxfT2QriVjja885JMSE5MW0w62"
    "vWPG33uMpBEYgczlX6tthBfAAfRUkWgztkGmzaW6StBUHdyqVAd1sZaFO3H3hBw4llTYEn"
    "uQDOBDrAhpQiHfCuRoYGefM6eOE1GnutMxFzKz7eQps7koFusALDmbApPcXvV8RTBniA+U"
    "pD4AsYWvoCGP6qwSN+fwZP9pxOnsDEYsizxyH2NMKfxovBCUGjM7buzGZ8CeJFiLD/oTOh"
    "p3xFggMcvKrGHjxkz0G2CRdIz1qP/p0kdIj1bOiuD93vi1f9RwYdlynoOKqmHOxoIFPBda"
    "yAwNjI+M+Bc0KsilAX4RxEzzk5p0Cgggjvf1NmzR22cGQ4XhU8ny0FWMXAjoiXGe7andJp"
    "tf+p3NXZom2bFlv5Brj5+aHd5UXGGFuEl3SaD5/rwGb6GOBPjWaLV46gYfK6rvLpsccL2G"
    "LLg3IH+KZxp3Ya/2y1G6x0CHXVhgvTcu3W15+lCII0zQ/ZR98yNtuhRBWI2lUhKMo/+qup"
    "wyACpdV++Ow3T/KJcbzZD8SZUwannvJjyjRwElIyIjQw16PrLf/FztisntMnuSRYqFuyLK"
    "M7h1+Smwp53Ax++518DMeDZCEuBmr8L9cE4TWXM0PKzECQhtieeptDFwnRCsZgVvjUxSuH"
    "qJRN09svBisOXmTGWeU+e9EJezpOYNcev4iPrDKdwLgLtkC1VBo2qD1bTcT67TZjYrMBXu"
    "/6SjKP7g7ZJRpTmUWKfsvnVPAEKuMXe+VjD+Vndks59UbXsyl7+W0ZGF/2COgXn3wZ4G67"
    "1bpp3P5SB8QyTT7VlYM08SabLVURSpc4kLvWUR7uBM/l/THAzQe1021/7iq9Xh1EPgzwbf"
    "u+01L6nPYK/gypMfd/1qrxcKu0RFHwp6tj5U511Rz5UA5NEzTKQyp7zatAjB0iGFe4IvPg"
    "G0pUD+L9k/bPiNCch0wiIiVGuMZd2zxo+CcK2JORuc1kUciQtg0bmQZOoW5W0GURGRmWuw"
    "tn5jDrJldAdCghgd8VeFV82XxOjahUZWK39sZbsqeNx2lRGtkDOiIiR/QOI5ogE0Ga66Bx"
    "RKTES2eZ9n8E2RZJ2f9lD+9QQvqWdhjcnjGtOlYeTiYhJr2kiQgkQtIugMgOpAgEqjBdHD"
    "yOAiGsUqQR5KTs+LJBT8pJ7PNjz28ieEYqNa2UyTt7/kiI7XH+qAC3K/YOKg/czheWm5Sr"
    "wng+QLioC5t3Reoy3mtu3EwKyys3y3wzE79MLZ0HyzRNoyLSLk3apfIO02yoqxtNQx1Itt"
    "N6XFJOlmWeLEcGNuhkKzUnRKWey6xnGRsnY+OqExsX2dhbY1WbzPE0ZVd/48l++qWLTJhx"
    "m56HeMsa3/JuKgT59yIjCAO8UuIHo1hmRw/GNbfJMe4hdLQJsEaAiXpXKVP3qDT/7kibc7"
    "4BaHNCLULB08gg1FHdj+fn4mIG98NT2unt/XXOD20/8firJ35c+4m7eukTOOGRcnVxSFuU"
    "gP9a4kro4QJg9CKKToFFwJNwkwXt+bUinNMF1pD/Xk5Z7zf8Tfn9IlOEbMrTQnEJ77Q54a"
    "OClc0M0+Rnlt1nsRoIRugFMLx1wi+itl5o9iHvlKM14bfd7XC3vHea1x0iADOms1x6SEpW"
    "6ZDJQZSSuENmGx0kBKUKtlZBdhRtOvLHEDm7JbW6CbGaTasukap86snji/HbVwLZQzthSn"
    "Hc9YiUsL0Zp8eOv+xoycXP0hwnvGuNuaUhVqazTvdoNkSETgy7lmKrRGpXWiuzoF0BZ52S"
    "h5v8vD077bR/lG12Yff/Ecvc+gIUX7bMS12t/fVB6TIT84W9zQDfK/c3/KM70pMW8uscx5"
    "CsZQGhBzI5XcHJ6SQPvF8eODl49wCsTPz3GluxB8sxRgu2gmKMzLTdWLzByg0ZFk1VzW27"
    "MYfMChwDQ/c+R6ZEAiDwrzqss797Jvum/lWeZ6yAPcDh//NQY04PQ11nUytF9Bw0gBtYmM"
    "ImF/EYfl1n2OsJDC4cfey2gAYJvxEVGA4FIjfTKSefKYIm0lmnU+ReD+q9wk8UsB51tmE3"
    "GFBF3D5drqPeVbjEU/yfuh1Nx9lvX72k63vPbZSViGfFuZusRDzy2E09z0EyMT/l4RBDiS"
    "pEvh6aRORxONY8bWdqWjAD8YhMAvIRFypqlL97e15UfOQK1O/ajzctBXS6ym2z1/RGfBDI"
    "Iyp5ESsw3B1VV2m0EiDzq0HnqWHG2R63iIiMP011ouU+bhOXkrNF/tnCj94dLvLsO+JSZS"
    "bAynRAQcZYZ6Nf3Rhr3x7LT3BGxSTDuZaPy0h/kJs3cgmKTqTD4wR4E14uOsS2D9CMZ2vZ"
    "PkDTRT6aIaYiyMcNovkw6HwvgPUiHVYJtOJpylWJipYH41qiMm/WojZGQOSs4AniRBioR3"
    "XWBcc3Q5TyqM+TGaRTpJ+eAeg4aGbz4E+sAy8Bwzl4mqLFE+CvLxIELVGVxTxmgEWfIvEd"
    "5x0pq/Ae46YvmsEpEqGriKlWj6RMslwulL9Bdnwqexiv89rJhEOl4yo9BW0ccoekrZDDVp"
    "C5byIIX15sAPDlRSa+vCo16CAPwBGRKhANRfPt3qqSh3CPiEjGfber236cq2y9RLwD3FMe"
    "+nW22cDOcganu2670xEpoIhl26gkeZr8bVYOEjkqIknk5aQg1OYHufKmYlqS2wrask3wew"
    "dXZhV7DWZessU/Elss72r4Me5qiPAaS2rO5iriUtInsNonoIUxhntxCURiFo8T3rUegfj4"
    "Kl9YaeCUyeRro26btXyt7wDZkK69DcMpBZMKgejHy/jOTA/ybGgInEAMevf9jijg6dgh6D"
    "MYxwTOwNASEaCUjT73dP/idPmigoKeM8BPbmRVNJm8G3YKXC0ASMVFBGegofTeXLy/fvP5"
    "9h4grJGFzcb6zx6xywTmBGdnkJc8bZl4WhlTWhjHVfnkTb2WSOFDeST7AN81e7ftLmdRDM"
    "rvThngvtK47zGdIjijA3zf6PeV7n2716+DGWcqyIwN1QFW7hvNVh2gGTRMLtNSPncb91zM"
    "na0G+Kty86XdZk/ywt0HuNHpdJs9pQ7YJE4MuuTUeh3GhiLHYc/Pl48iIiNpTRlIfHQEhA"
    "wNlKGBkuwpguyZ2/qWWo9LSq2XResp3E8QyrRkK68Lq4uee9w1Rqx63MUBwsNigXWZlEMy"
    "/G4t7bAUALieevg6MbSJG11F+dHRF/HZC0kAJzysa8SrycIvrIMn768n8eVOwdhaDr2K8Q"
    "5FPSQ1vitBZYZHxGWYV6noA3c45DF4Qglp7uxg7sjtt9x+lwH949yIbbL9lj64Am4eeuXr"
    "nI6Hs5F+zXL5NTcKDy7wdqdyjtyCL/kv0obzoU8x3CJaybbWvG9WwF2Q0sIpk4UjHaSFOU"
    "h5bl91TlKWqlVRo6GMdNvkd9sMCVuRJnkGdChxOHuRjTwDFzVPHCDPtcjHkc8PHEhIWmQX"
    "WsTC2pwQhLUMXmR96EWiiwMOetZ0jnKO+trfH5VHpQ6E7AB3lb8pt/06IIhvTga499hRuj"
    "3ljrWgcxsRivSSBEvw1DUqQSKzap4zLktyhzvo8r6oCWnPZzEYGn7m9jxLa0JMrq75V1cv"
    "QEkNbwXdFPxlyTKzs7VoBKhm2MxycdhXO/NCQG2Ta4AVbDbVHFpLbrICla24Gccg01WUEK"
    "vC7+MAWyEvbYKqQazyaD3rOcWcurEsNqHjrIO/qT0k8B+yLor6gQQlh52ibtrtVmzw3zST"
    "o/uR39h/8k4oJLyScHlJwBabWcyRhx9MMblWqiBNXOKfA38bOpNc9kAgsJM5ULLp5uAxod"
    "acaLkuGQglJO47WGHCfnLUrTNWZXYgfT/SNS1d0zIytGpa32tk6L4uXKz6VYvh6rIzUBVM"
    "8ZdmxfnJ77aHKp5tr4pQvfYFnuXc56zBTLBeO6LVC6izqgyrIuMfPLRSwh9CHLOjHyIK2y"
    "Tnkh8l7orVQTp9CIbWHOs8QtxrfybuExX3jE7RAhj6clT6nvveIDWnQGunMPRVWb8rlprz"
    "IJm+yxq88dpb4eIjo5+hOU8BONvNEQhUAuFDOy7YRJVKpKy8VzedOTlOwIt2SkvDOhv6ah"
    "nWaVrPd5YmLlXFn1cRK4bM53yQbCcy+7A/hI42QF0kKE4xz/zExdnGGc/9W7K49B/F3tkx"
    "hivbkuE6zWvNRGWqF45+tUk4+lV2OPrV0tIEKX2x2M92AmmuCOklwQpuBgqJDSKWmTGg14"
    "fp+rJlxrrWuLtvPtQB1GcG5jegPTQ+K11+/Rmf88kA3ym/Kq12h5fp6BmZls1Lf20qX3nR"
    "s4Fe3Ln+9S0j3aAcuzQ2a1XgUFRMBgzlCBiSjv3soX6clqh07P+IWt+rY9+xpmhXn2LDNv"
    "q8myMcAtJTvW+vK6W7O6m/omHP7ahKOBVp2UcQS7Hv43hmW/kvaKhGNbiJH3ZIrBdmFAJP"
    "ri4u+dYsa2og79ZvCAjEujUDhv4zsNh0K5JA9r40uE8VGBRMke2kuWH32fUO5INujBHNlb"
    "ktlJA2coaNnE1LaJSM8oDtty+z1VYaQkLaAFXbDW5iA1CE8BYqj4hVUN9Hot+U3X6KkUeD"
    "pOobkuQRicOddi45Wb7C/zX3PCQ7Or98R8uRgbup5ysyqMrk9mogYmiTtI2xV7NyUwzDNt"
    "L3dUw/51WbzGdmhhtpySWz95kRkQpuNQtxxvAfVQ6EveYVRPfd27ebeE/evs12n/C6pYtp"
    "nNSc7dlnUSMi8k6gnKdRc9Cr+1/Mvv8fPIkgug=="
)
