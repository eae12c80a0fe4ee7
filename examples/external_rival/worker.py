"""Worker for rvosbench's SubprocessRival: runs *inside* the external repository's environment.

rvosbench starts this script with the external repository as working directory and import path, so
``import models`` below is the external repo's package, never rvosbench's. It must not import
rvosbench. Protocol: one JSON request per stdin line, one JSON answer per stdout line (see
rvosbench/models/external.py); everything else goes to stderr.
"""
import argparse
import json
import sys

import numpy as np

from models import ColourSegmenter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--crash-on", default="", help="testing aid: exit hard when the text contains this")
    args = parser.parse_args()
    model = ColourSegmenter(args.threshold)
    print(f"colour worker ready (threshold {args.threshold})", file=sys.stderr)
    for line in sys.stdin:
        request = json.loads(line)
        if args.crash_on and args.crash_on in request["text"]:
            print("simulated crash", file=sys.stderr)
            sys.exit(3)
        try:
            frames = np.load(request["frames"])
            probs = model(frames, request["text"])
            np.savez(request["out"], probs=probs)
            answer = {"ok": True}
        except Exception as error:  # report, keep serving the next request
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
