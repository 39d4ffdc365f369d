"""`python3 -m components.flyctl` of state written before the move: service_infra.ops.fly."""

import sys

from service_infra.ops.fly import main

sys.exit(main())
