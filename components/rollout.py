"""`python3 -m components.rollout` of state written before the move: service_infra.ops.rollout."""

import sys

from service_infra.ops.rollout import main

sys.exit(main())
