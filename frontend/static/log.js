// The deployment page's live log (see the deployment template).
"use strict";
