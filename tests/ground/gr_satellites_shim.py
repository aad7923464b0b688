"""Run Debian's gr_satellites under the system python3 (not the project's venv).

Debian's gr-satellites 4.4 was built against an older GNU Radio that had
``gnuradio.blocks.byte_t``; GNU Radio 3.10 moved it to ``gnuradio.gr.types``.
Alias it before gr-satellites imports, then run the real ``/usr/bin/gr_satellites``
with our arguments.
"""

import runpy
import sys

from gnuradio import blocks, gr

if not hasattr(blocks, "byte_t"):
    blocks.byte_t = gr.types.byte_t

sys.argv = ["gr_satellites", *sys.argv[1:]]
runpy.run_path("/usr/bin/gr_satellites", run_name="__main__")
