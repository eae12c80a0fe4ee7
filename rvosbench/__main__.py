"""``python -m rvosbench``: the same CLI, so ``torchrun -m rvosbench run ...`` works."""
import sys

from rvosbench.cli.main import main

sys.exit(main())
