"""``python -m ocpp_router serve ...``"""

import sys

from ._cli import main

sys.exit(main())
