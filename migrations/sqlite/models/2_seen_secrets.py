from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deployments" ADD "seen_secrets" TEXT;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "deployments" DROP COLUMN "seen_secrets";"""


MODELS_STATE = (
    "eJztXVlz2zYQ/isYvtSZUTyOfDbtdEY+krpJ7E6sHtOmQ0EkJKGiCAYErahp/nsB3gcgiz"
    "oYiuVLHAFYAPyw3Au70mdtRkxkuYfXyMKPiC60l+CzZsMZ4v8p9HWABh0n6RENDA4tf7AZ"
    "jMLIb4ZDl1FoMN4zgpaLOmKAa1DsMExsMb4H5mg4IWQKQsoFYBPIgANdF5lATDXCBhTDX4"
    "K56DH4tjoA2mbw8Qo6LoM2MDFvwGwCMDsUS5vE4Gtje7yzVT7YH+z+BAEK52BIzAXALrAR"
    "nwtMkcO+AwPHcycDMCGW6fLlEF+NitVEMzigaNQBBpnNMOv4TYjyv5BN3GfAJQB+sOOtGn"
    "zhIV8HORZcINN/PM/GHz2kMzJGfGrKH/LPPzWHkr+RwXRsiiH80yM2eV8nPpaF6PrrL96A"
    "+fSf+CFxOvHRmeojjCwzc/DBNH67zhaO3/bLL7fXr/yRYtahbhDLm9nJaGfBJsSOh3seNg"
    "8FjegbIxtRyJCZYgfbs6yQd6Km4NF4A6MeirdqJg0mGkHPEkylfT/ybEMcG/BXEv+c/BBu"
    "LTVM1+/u+/rDTV/XtQIPii3kGCZsMogt+BfbTAD1+UswbwKI36qJBa5+7L0/OD575kNAXD"
    "amfqcPl/bFJ4QMBqQ+6AnK6WPKYn01gVSOdZomhzjf8DpYRw0J2MkLG8EYAbUDaLUZ/KRb"
    "yB6zCf/44mwJ1L/23vtovwjQJly+BKLnLuzp+l0C9ATkNP+XwDlH1kSouxerYN29UIMt+r"
    "JocyFoszI4xwQNRPjsZAWAz06U+IquLLzEY1xxoDIAp0gaCPH25QVF0OU7KiDcR5+YHOGE"
    "Yi2AQ9VWF3yX4Nm/+b0vZp657kcrjePBu97vPsSzRdjz9v7udTQ8hfvV2/vLHN7cuGKey+"
    "E0JWx9ayswz1HlgMeBSNk3zh6LTTzvvjg5P7k4Pju54EP8jcYt50sO5/auX9B8jkUWMy5f"
    "pbpPbc8VCDcw7faHu5805FKGGzfai4D+9HB/pzDawvE5HE1sMPAvsLC7CrvuD5ICiOVyIi"
    "8ScpCLCQpyAv9TSkCEw1vJIJEMFBmIW7emDiW22jXHheEZUim7DGmeo0Paw+g/+wg21+fm"
    "vW0twndumUK8fXfz0O+9+znD7de9/o3o6WY0YtR6kDdG4knAb7f9H4H4CP64v7vJvxTxuP"
    "4fmtgT9BjRbTLXoZnykKPWCLWs3MpECVZVB7nYwhbd/PqKsCeUgQicjKYqp16gVQT4FaEI"
    "j+03aOHDfGuLsJIhE1Jh2O3nZKb9BDZpTfiTwnkcb8pxFkeAPzdigUPTe7jqXd9oPtRDaE"
    "znkJp6BnPRQ7ok1xKPLXbNurN8C7Th2MdHPIjYdhzyjEwgTRoQjXs7y0Oi0bjVYqJqgCVB"
    "v1wsLx8DDCzkIOQnjfG56GORSS/xWK1SA4KnNWp41JsF+HavTr/tdo+Pz7tHx2cXpyfn56"
    "cXR7FeLXYtU7CXt6+Fjs1I9UjpqqN/9Y+x1lL0pvXZlG++TCwkGt8GQlYIhIQCpAS8CcWu"
    "AK5USuw80DQqA244vAkhpiyy3dPTFaDlo5TY+n1ZcIPrtTL4JhTNg3j7gehHRF0sC5OqAU"
    "6R1BhhTVzXei6i37iAr4wsrS4s7WAHWdiWBEGWBJ5SNBsFn+qm/CqPPjHuJ0iUoRr6hKIF"
    "flPgdf9hy10PpKmqCwIe7UqebzkCyFcbj2WZB2qGTpG0HL0BR1NkIeiWusNNkdRYddbJ/q"
    "PIIVRi/6nZO6Fob2k2YG5iWSICpzNSJrqRI2vvG3NZNZQSiaxWpyTEBE0QF5VnJCBk6y4y"
    "KGISi08Nep6uxb489tBg+BHprkUkwlstP3JkW5QfDYiS+raDLpKRy6Wa5umawM8VpEAGsK"
    "FPDqYyj3H59XqBeAsX7DU7gj25T48wWXqhTtEjlsfBlK5pmqT1S/N+KVee4snXSEzJUrZ5"
    "KXV5j1bJS3EZpOudepayFZZ1FpYjbGN3stYx50jbc67zObdZZm2WWXOyzFKGPRnrxsSzpx"
    "Kr/jKkffXmPbL8alI14m/J+EpM0yDIv+wyFy/GS5KJl8ZSnYeXPblVSpOHkBkTQEaAkwKK"
    "DEJNNyj/Fc+ODE/EG4DhUZdQFwxGmLpMDz4eHlow/jCQVSRvb3JRiDwQWU0DUYI8EFe97g"
    "AciJyzl37hsd8C/ib8jwmGC2Cjud/0DBAKBv41WTye2AiImC4gQ/G+POOzX4qd8n2DKUKO"
    "CyDwKcIKaiq4grfNsGWJOtxgLd4DwQjNAcfbpHxVSuauunBZUqSSPO1mBcvLchmlWqZNZV"
    "wzlTFzZqXOIU/ZpHKNSg4lpZ7gmmeQI2yPYO0jaPNR49DqKoFVdVi1EFQVoqfMXUw0vhHI"
    "Vn0JU4vC0T06hPXdODNTSLKhJ5etStlPeJ905gosVqeqociXljgqKTdb7aeEnurui4XaL/"
    "6p4AZWbS/7f0vYCdH47Wizr+uwZBPTj1dJTD9WJ6YfyxK/dI9aZYyFNE0TLrmrtheGlCsm"
    "yRciqBk6oajOQOOch+1dyYkKUhrbFPSvlNPIl+feMUW2sSjD4zmyChmdD/VQNZy+/bI4EW"
    "nUw4RnCbcroxgFuuriGKe7gnrLyRUcjSjRtox6zJG1GrK8hgy/gzTMDi0DfpGyziENrXfz"
    "8Lx7evb89dU7YGCHex+MP1on/HZUxxInwBvylyL1OKXAt9S51ixV9pwja8L7UUU5o/jC2z"
    "LWTEzQ1mdsUE5HPGqUKiFNKFrcN7AhfUuQ6WuHVpUTtLUybQZpm0HqOeaap56lbE+9Lqcu"
    "STWMM40KAf2nUreyv02wfupW+pcQ9owNlKlb8pu/jYFq4F1UrkpQUSBYBqaH2KtrCkS7vF"
    "4L0ZLcriU4qi/XUge2SgZgeBcHArKXQO7ZgiHxbBMwEo3nri7fmv/zIVO0ANiUJQBude4V"
    "fg/ER6vNpatRzlBd7wa/tq2y+/LMR2h5EoDVEbiYoBEIVx1T44Kq5C+vJBSNAHzX9yWt56"
    "OGvlmej+zUh6WuJLNUTXy9dqEx2nq2tp6tTimQ9f3W9B6i2JhoEgct7Oksc9BgMqY2uY//"
    "F6dnwxwDtTvzFb4otm7vdQWXqeKlKoFwOLyB6L44OlrFADg6UhsAoq+QAMakKfrqW9MUSZ"
    "t7V/LetESEf/vK7Mt/gkbGzg=="
)
