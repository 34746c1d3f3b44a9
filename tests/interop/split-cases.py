#!/usr/bin/env python3
"""split-cases.py - cut a capture into one pcap per interop case, in one pass.

Usage: split-cases.py CAPTURE.pcap CASE-TIMES OUTDIR

CASE-TIMES has one line per case run: INDEX ROLE NAME START END ... (epoch
seconds). Every RoCEv2 packet (IPv4 UDP to port 4791) whose timestamp lies
in [START, END] goes to OUTDIR/INDEX-NAME-ROLE.pcap; a case that saw none
gets no file. Prints the number of packets written per case.
"""
import bisect
import struct
import sys


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    cap, times, outdir = sys.argv[1:]
    cases = []
    with open(times) as f:
        for line in f:
            w = line.split()
            if len(w) >= 5:
                cases.append((float(w[3]), float(w[4]), "%s/%s-%s-%s.pcap" % (outdir, w[0], w[2], w[1])))
    cases.sort()
    starts = [c[0] for c in cases]
    outs = {}
    counts = {}
    with open(cap, "rb") as f:
        ghdr = f.read(24)
        magic = struct.unpack("<I", ghdr[:4])[0]
        end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, frac, incl, _ = struct.unpack(end + "IIII", rh)
            fr = f.read(incl)
            t = sec + frac / (1e9 if nano else 1e6)
            if len(fr) < 14 + 20 + 8 or fr[12:14] != b"\x08\x00" or fr[23] != 17:
                continue
            hl = (fr[14] & 0x0f) * 4
            if struct.unpack(">H", fr[14 + hl + 2:14 + hl + 4])[0] != 4791:
                continue
            i = bisect.bisect_right(starts, t) - 1
            if i < 0 or t > cases[i][1]:
                continue
            path = cases[i][2]
            if path not in outs:
                outs[path] = open(path, "wb")
                outs[path].write(ghdr)
                counts[path] = 0
            outs[path].write(rh + fr)
            counts[path] += 1
    for o in outs.values():
        o.close()
    for _, _, path in cases:
        print("%8d %s" % (counts.get(path, 0), path))


if __name__ == "__main__":
    main()
