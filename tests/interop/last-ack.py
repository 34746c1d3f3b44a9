#!/usr/bin/env python3
"""last-ack.py - whether a pingpong's failed last send is the tool's
end-of-run race under loss, as the capture and the impairment's event log
show it.

Usage: last-ack.py --softodp ADDR --failed softodp|kernel CASE.pcap EVENTS.txt

ibv_rc_pingpong and ibv_srq_pingpong have no closing handshake: each side
ends, and destroys its QPs, once its own sends and receives are complete,
while the other side may still wait for the ACK of its last message. If the
impairment loses every answer given to that message, its retransmissions
reach no QP: the send ends with a retry-exceeded error, or, where the
transport retries without end, the program is stopped by its time bound;
whichever of kernel rxe and softodp, server or client, is the side left
waiting (--failed).

CASE.pcap is the bridge's capture of the case (each packet as its sender
sent it, before the impairment); EVENTS.txt is run-interop.sh's
impair-events.txt (what the impairment did to which packet). The failure is
that race when:

  - the event log is complete (it left no event out);
  - on some QP of the failed side, no answer of the peer covering that
    side's last request PSN (an ACK or NAK with that PSN or a later one)
    reached it: each was dropped, or held and not released while the failed
    side still sent; and the peer did answer it at least once;
  - on every other QP of the failed side an answer covering its last
    request PSN got through.

Exit status 0 and one line naming the QP, the PSN and the lost answers; 1
and the reason otherwise.
"""
import importlib.util
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("wire_check", os.path.join(HERE, "wire-check.py"))
wc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wc)

PSN_MOD = 1 << 24
# an event is the packet's fate if it is this close to the capture's time
# (the event log's clock is converted from CLOCK_MONOTONIC when it is read)
EVENT_SLACK = 0.005


def times(path):
    """The capture time of every frame of a classic pcap, in order."""
    with open(path, "rb") as f:
        data = f.read()
    end = "<" if struct.unpack("<I", data[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = struct.unpack(end + "I", data[:4])[0] == 0xa1b23c4d
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl = struct.unpack(end + "III", data[off:off + 12])
        out.append(sec + frac / (1e9 if nano else 1e6))
        off += 16 + incl
    return out


def read_events(path):
    """(complete, [(time, direction, what, opcode, dqpn, psn)])"""
    complete, ev = False, []
    with open(path) as f:
        for line in f:
            w = line.split()
            if line.startswith("# impairment events:"):
                complete = w[3] == w[6]
            elif len(w) == 9:
                ev.append((float(w[0]), w[1], w[2], int(w[4], 16), int(w[6], 16), int(w[8], 16)))
    return complete, ev


def covers(psn, last):
    return (psn - last) % PSN_MOD < PSN_MOD // 2


def verdict(pcap, events_path, softodp, failed):
    complete, events = read_events(events_path)
    if not complete:
        return False, "the impairment's event log is incomplete"
    t = times(pcap)
    pk = list(wc.packets(pcap))
    if not pk:
        return False, "no RoCE packets in the capture"
    for p in pk:
        p["t"] = t[p["n"] - 1]
    # srv: the failed side, whose requests went unanswered
    srv = softodp if failed == "softodp" else next(p["src"] for p in pk if p["src"] != softodp)
    # the peer's answers travel in this direction of the event log
    answer_dir = "kernel->softodp" if failed == "softodp" else "softodp->kernel"
    pair = wc.qp_pairs(pk)
    last_srv = max(p["t"] for p in pk if p["src"] == srv)
    reqs = {}
    for p in pk:
        if p["src"] == srv and p["svc"] == 0x00 and p["base"] not in wc.RESP:
            reqs.setdefault(p["dqp"], []).append(p["psn"])
    if not reqs:
        return False, "the failed side sent no RC request"
    unanswered = []
    for cqpn, psns in sorted(reqs.items()):
        first = psns[0]
        last = max(psns, key=lambda x: (x - first) % PSN_MOD)
        sqpn = pair.get((srv, cqpn))
        if sqpn is None:
            return False, "QP 0x%06x of the peer: no answer ties it to a QP of the failed side" % cqpn
        answers = [p for p in pk if p["src"] != srv and p["dqp"] == sqpn and p["base"] in wc.RESP
                   and covers(p["psn"], last)]
        lost = []
        for a in answers:
            fate = [e for e in events if e[1] == answer_dir and e[4] == sqpn and e[5] == a["psn"]
                    and e[3] == a["op"] and abs(e[0] - a["t"]) <= EVENT_SLACK
                    and e[2] in ("dropped", "held")]
            if not fate:
                continue
            if fate[0][2] == "held" and any(
                    e[1] == answer_dir and e[2] == "released" and e[4] == sqpn and e[5] == a["psn"]
                    and fate[0][0] <= e[0] <= last_srv for e in events):
                continue
            events.remove(fate[0])     # one event is the fate of one packet
            lost.append(a)
        if len(lost) < len(answers):
            continue
        if not answers:
            return False, ("the peer never answered PSN 0x%06x, the last request of QP 0x%06x"
                           % (last, sqpn))
        unanswered.append("QP 0x%06x PSN 0x%06x: %d answer%s of the peer, all lost (%s)" % (
            sqpn, last, len(answers), "" if len(answers) == 1 else "s",
            ", ".join("%s psn 0x%06x at %.6f" % (wc.opname(a["op"]), a["psn"], a["t"])
                      for a in lost[:3])))
    if not unanswered:
        return False, "an answer covering every last request of the failed side got through"
    return True, ("the peer had answered the last send, and the impairment lost the answers: "
                  + "; ".join(unanswered))


def main():
    args = sys.argv[1:]
    softodp = failed = None
    files = []
    while args:
        a = args.pop(0)
        if a == "--softodp":
            softodp = args.pop(0)
        elif a == "--failed":
            failed = args.pop(0)
        else:
            files.append(a)
    if not softodp or failed not in ("softodp", "kernel") or len(files) != 2:
        raise SystemExit(__doc__)
    ok, why = verdict(files[0], files[1], softodp, failed)
    print(why)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
