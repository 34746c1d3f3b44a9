#!/usr/bin/env python3
"""wire-check.py - compare the RoCEv2 packets one side sent with the
conventions kernel rdma_rxe (Linux 6.1) follows on the wire.

Usage: wire-check.py --self ADDR [--mtu N] CASE.pcap... [--mtu N CASE.pcap...]

--mtu N is the path MTU of the files after it (default 1024).

ADDR is the address whose packets are checked (softodp's); the other side's
packets (kernel rxe) are checked the same way, so that every rule is shown to
hold for the kernel in the same capture. Each file is one case (one
connection setup); the checks:

  udp_sport   RC/UC: 0xC000 | fold14(flow label of lqpn * rqpn), the port of
              ib_core's rdma_calc_flow_label + rdma_flow_label_to_udp_sport,
              for the connected pair (lqpn, rqpn): the sender's QPN is found
              from the answers of the connection (qp_pairs), since with
              several QPs another pair's port can equal a wrong pairing's;
              UD: 0xC000 + hash_32(src qpn, 14), rxe_qp.c's initial src_port
  ip_header   TOS 0, TTL 64, DF set
  udp_csum    rxe leaves the UDP checksum 0
  ackreq      set on the last packet of an RC SEND/WRITE, on READ requests
              and atomics; clear elsewhere, and never on UC/UD
  aeth        ACK syndrome 0x1f (ACK, credits invalid) as rxe sends; NAKs
              and RNR NAKs are listed
  msn         the MSN of successive ACKs / responses of a flow never falls
  psn_dup     a request PSN sent twice (a retransmission) or a READ / atomic
              response sent twice (ACKs repeat for duplicate requests)
  ack_each    every new RC request with AckReq set is answered by an ACK /
              response carrying its own PSN (rxe's responder answers each
              one); an answer only for a later PSN is "coalesced". Listed
              under the responder, with the request's frame and direction
  mtu         no payload above the path MTU; FIRST/MIDDLE packets exactly MTU
  pad         pad count = (4 - payload % 4) % 4

Departures of ADDR's packets that the IBA allows are named in ALLOWED
(with the clause) and printed as ALLOW, the others as DEV:

  ack_each      ACK coalescing
  ackreq_extra  AckReq on a request packet where kernel rxe sets none
  psn_dup       retransmission (go-back-N) and duplicate requests answered again
  aeth_rnr      RNR NAK (no receive WQE, or ODP pages being faulted in)
  aeth_nak_seq  NAK PSN sequence error (a lost request packet)
  msn_replay    an older MSN on the answer to a duplicate request

Prints one line per check and side, then the findings (file, frame, field,
expected, seen); exit status 1 if ADDR's packets depart from kernel rxe's
conventions in a way ALLOWED does not name.
"""
import bisect
import struct
import sys

ANSWER_WINDOW = 256

OPS = {
    0x00: "SEND_FIRST", 0x01: "SEND_MIDDLE", 0x02: "SEND_LAST",
    0x03: "SEND_LAST_IMM", 0x04: "SEND_ONLY", 0x05: "SEND_ONLY_IMM",
    0x06: "WRITE_FIRST", 0x07: "WRITE_MIDDLE", 0x08: "WRITE_LAST",
    0x09: "WRITE_LAST_IMM", 0x0a: "WRITE_ONLY", 0x0b: "WRITE_ONLY_IMM",
    0x0c: "READ_REQUEST", 0x0d: "READ_RESP_FIRST", 0x0e: "READ_RESP_MIDDLE",
    0x0f: "READ_RESP_LAST", 0x10: "READ_RESP_ONLY", 0x11: "ACK",
    0x12: "ATOMIC_ACK", 0x13: "CMP_SWAP", 0x14: "FETCH_ADD",
    0x16: "SEND_LAST_INV", 0x17: "SEND_ONLY_INV",
}
# Departures from kernel rxe's conventions that the IBA allows: check name ->
# (what it is, the clause that allows it).
ALLOWED = {
    "ack_each": ("ACK coalescing: one ACK answers several requests with AckReq",
                 "IBA 9.7.5.1.2: an ACK acknowledges every request up to its PSN"),
    "ackreq_extra": ("AckReq on FIRST/MIDDLE request packets of a long message",
                     "IBA 9.2 (BTH AckReq): the requester may ask for an ACK on any request packet"),
    "psn_dup": ("retransmission: go-back-N after a NAK or timeout, duplicates answered again",
                "IBA 9.7.5.1 (requester retransmission), 9.7.5.1.1 (duplicate requests)"),
    "msn_replay": ("a response to a duplicate request carries that request's (older) MSN",
                   "IBA 9.7.5.1.1: a duplicate request is answered as the original was"),
    "aeth_rnr": ("RNR NAK: no receive WQE, or ODP pages being faulted in",
                 "IBA 9.3.5.1 (AETH RNR NAK syndrome), 9.7.5.1 (RNR retry)"),
    "aeth_nak_seq": ("NAK PSN sequence error after a lost request packet",
                     "IBA 9.3.5.1 (AETH NAK code 0), 9.7.5.1 (requester resumes at the NAK's PSN)"),
}

PREFIX = {0x00: "RC_", 0x20: "UC_", 0x60: "UD_"}
RESP = (0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12)
LAST = (0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0a, 0x0b, 0x16, 0x17)
FIRST_MIDDLE = (0x00, 0x01, 0x06, 0x07, 0x0d, 0x0e)
# header bytes after the BTH, by base opcode (RC/UC); UD adds the DETH
EXT = {0x03: 4, 0x05: 4, 0x06: 16, 0x09: 4, 0x0a: 16, 0x0b: 20, 0x0c: 16,
       0x0d: 4, 0x0f: 4, 0x10: 4, 0x11: 4, 0x12: 12, 0x13: 28, 0x14: 28,
       0x16: 4, 0x17: 4}


def opname(op):
    return PREFIX.get(op & 0xe0, "OP%02x_" % (op & 0xe0)) + OPS.get(op & 0x1f, "0x%02x" % op)


def sport_rc(a, b):
    v = a * b
    v ^= v >> 20
    v ^= v >> 40
    fl = v & 0xfffff
    return 0xc000 | ((fl & 0x3fff) ^ ((fl & 0xfc000) >> 14))


def sport_ud(qpn):
    return 0xc000 + (((qpn * 0x61c88647) & 0xffffffff) >> 18)


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    end = "<" if struct.unpack("<I", data[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        fr = data[off + 16:off + 16 + incl]
        off += 16 + incl
        n += 1
        if len(fr) < 14 + 20 + 8 + 12 or struct.unpack(">H", fr[12:14])[0] != 0x0800:
            continue
        ip = fr[14:]
        hl = (ip[0] & 0x0f) * 4
        if ip[9] != 17:
            continue
        l3len = struct.unpack(">H", ip[2:4])[0]
        sport, dport, ulen, ucsum = struct.unpack(">HHHH", ip[hl:hl + 8])
        if dport != 4791:
            continue
        b = ip[hl + 8:hl + 20]
        op = b[0]
        p = dict(n=n, src=".".join(map(str, ip[12:16])), dst=".".join(map(str, ip[16:20])),
                 tos=ip[1], ttl=ip[8], df=bool(ip[6] & 0x40), ipid=struct.unpack(">H", ip[4:6])[0],
                 sport=sport, ucsum=ucsum, op=op, base=op & 0x1f, svc=op & 0xe0,
                 pad=(b[1] >> 4) & 3, dqp=struct.unpack(">I", b[4:8])[0] & 0xffffff,
                 ackreq=b[8] >> 7, psn=struct.unpack(">I", b[8:12])[0] & 0xffffff)
        rest = ip[hl + 20:l3len - 4]
        ext = EXT.get(p["base"], 0) + (8 if p["svc"] == 0x60 else 0)
        p["payload"] = len(rest) - ext - p["pad"]
        p["paylen_padded"] = len(rest) - ext
        if p["svc"] == 0x60:
            p["srcqp"] = struct.unpack(">I", rest[4:8])[0] & 0xffffff
        if p["svc"] == 0x00 and p["base"] in (0x0d, 0x0f, 0x10, 0x11, 0x12):
            a = struct.unpack(">I", rest[:4])[0]
            p["syn"], p["msn"] = a >> 24, a & 0xffffff
        yield p


class Report:
    def __init__(self, me):
        self.me = me
        self.found = {}      # (who, check) -> [lines]
        self.ok = {}         # (who, check) -> count

    def who(self, p):
        return "self" if p["src"] == self.me else "peer"

    def check(self, path, p, name, good, want, seen, who=None):
        k = (who or self.who(p), name)
        if good:
            self.ok[k] = self.ok.get(k, 0) + 1
            return
        self.found.setdefault(k, []).append(
            "%s frame %d %s %s->%s %s psn 0x%06x: expected %s, got %s"
            % (path, p["n"], name, p["src"], p["dst"], opname(p["op"]), p["psn"], want, seen))


def qp_pairs(pk):
    """(src, dest QPN) -> src's own QPN, for the RC connections in pk.

    An RC answer (ACK, NAK, READ or atomic response) goes to the requester's
    QPN and carries the PSN of a request the requester sent to the
    responder's QPN, so each answer is a vote for one pair. PSNs start at
    random 24-bit values per QP, so the votes of a connection agree; the
    pair with the most votes wins."""
    reqs = {}           # (src, psn) -> dest QPNs of src's requests with that PSN
    for p in pk:
        if p["svc"] == 0x00 and p["base"] not in RESP:
            reqs.setdefault((p["src"], p["psn"]), set()).add(p["dqp"])
    votes = {}          # (src, dest QPN) -> {src's QPN: votes}
    for p in pk:
        if p["svc"] != 0x00 or p["base"] not in RESP:
            continue
        for rq in reqs.get((p["dst"], p["psn"]), ()):
            v = votes.setdefault((p["dst"], rq), {})
            v[p["dqp"]] = v.get(p["dqp"], 0) + 1
            v = votes.setdefault((p["src"], p["dqp"]), {})
            v[rq] = v.get(rq, 0) + 1
    return {k: max(v, key=lambda q: (v[q], -q)) for k, v in votes.items()}


def check_file(path, rep, mtu):
    pk = list(packets(path))
    pair = qp_pairs(pk)
    # RC/UC sport: both ends derive it from the same product lqpn * rqpn of
    # the connected pair. A packet carries only its dest QPN; the sender's own
    # QPN is the dest QPN of the other side's packets of the same connection
    # (qp_pairs). Where no answer ties a flow to its connection, any of the
    # other side's dest QPNs may be the sender's.
    dq = {}
    for p in pk:
        dq.setdefault(p["src"], set()).add(p["dqp"])
    for p in pk:
        if p["svc"] == 0x60:
            want = sport_ud(p["srcqp"])
            rep.check(path, p, "udp_sport", p["sport"] == want, want, p["sport"])
            continue
        lqpn = pair.get((p["src"], p["dqp"]))
        if lqpn is not None:
            want = sport_rc(p["dqp"], lqpn)
            rep.check(path, p, "udp_sport", p["sport"] == want, want, p["sport"])
            continue
        cands = {sport_rc(p["dqp"], q) for s, qs in dq.items() if s != p["src"] for q in qs}
        if cands:
            rep.check(path, p, "udp_sport", p["sport"] in cands, sorted(cands), p["sport"])
    flows = {}
    for p in pk:
        rep.check(path, p, "ip_header", p["tos"] == 0 and p["ttl"] == 64 and p["df"],
                  "tos 0 ttl 64 DF", "tos %d ttl %d DF %d" % (p["tos"], p["ttl"], p["df"]))
        rep.check(path, p, "udp_csum", p["ucsum"] == 0, 0, "0x%04x" % p["ucsum"])
        resp = p["svc"] == 0x00 and p["base"] in RESP
        if p["svc"] != 0x00:
            want_a = 0
        elif resp:
            want_a = 0
        elif p["base"] in LAST or p["base"] in (0x0c, 0x13, 0x14):
            want_a = 1
        else:
            want_a = 0
        # AckReq where the convention has none, on an RC request packet
        extra = want_a == 0 and p["ackreq"] == 1 and p["svc"] == 0x00 and not resp
        rep.check(path, p, "ackreq_extra" if extra else "ackreq", p["ackreq"] == want_a, want_a,
                  p["ackreq"])
        if "syn" in p:
            kind = {1: "aeth_rnr", 3: "aeth_nak_seq" if p["syn"] == 0x60 else "aeth"}.get(
                p["syn"] >> 5, "aeth")
            rep.check(path, p, "aeth" if p["syn"] == 0x1f else kind, p["syn"] == 0x1f, "0x1f (ACK)",
                      "0x%02x%s" % (p["syn"], {1: " (RNR NAK)", 3: " (NAK)"}.get(p["syn"] >> 5, "")))
        if p["base"] in FIRST_MIDDLE:
            rep.check(path, p, "mtu", p["payload"] == mtu, mtu, p["payload"])
        else:
            rep.check(path, p, "mtu", p["payload"] <= mtu, "<= %d" % mtu, p["payload"])
        rep.check(path, p, "pad", p["pad"] == (4 - p["payload"] % 4) % 4,
                  (4 - p["payload"] % 4) % 4, p["pad"])
        k = (p["src"], p["dst"], p["dqp"], resp)
        f = flows.setdefault(k, dict(psns=set(), msn=None, top=None))
        dup = p["psn"] in f["psns"]
        # READ responses reuse no PSN; an ACK may repeat one only as a
        # duplicate (a peer's retransmission being acknowledged again)
        if p["base"] != 0x11:   # a duplicate request is ACKed again (C9-105)
            rep.check(path, p, "psn_dup", not dup, "new PSN", "0x%06x again" % p["psn"])
        p["dup"] = dup
        f["psns"].add(p["psn"])
        # a response at or below the flow's highest PSN so far answers a
        # duplicate (retried) request again, with that request's MSN
        replay = f["top"] is not None and not 0 < (p["psn"] - f["top"]) % (1 << 24) < (1 << 23)
        if f["top"] is None or not replay:
            f["top"] = p["psn"]
        if "msn" in p:
            if f["msn"] is not None:
                rep.check(path, p, "msn_replay" if replay else "msn", p["msn"] >= f["msn"],
                          ">= %d" % f["msn"], p["msn"])
            if not replay or f["msn"] is None:
                f["msn"] = max(p["msn"], f["msn"] or 0)
    # ack_each: the answer comes from the other side, so it is charged to it.
    # The answers to a request are looked for among the responder's next
    # ANSWER_WINDOW responses (responses advance, so an answer comes soon or
    # not at all), which keeps this linear in the size of the capture.
    resp_at = {}        # src -> indices of its RC responses, in order
    last_at = {}        # src -> index of its last packet
    for i, p in enumerate(pk):
        last_at[p["src"]] = i
        if p["svc"] == 0x00 and p["base"] in RESP:
            resp_at.setdefault(p["src"], []).append(i)
    for i, p in enumerate(pk):
        if p["svc"] != 0x00 or p["base"] in RESP or not p["ackreq"] or p.get("dup"):
            continue
        ra = resp_at.get(p["dst"], [])
        j = bisect.bisect_right(ra, i)
        later = [pk[k] for k in ra[j:j + ANSWER_WINDOW]]
        exact = any(x["psn"] == p["psn"] for x in later)
        coal = any(0 < (x["psn"] - p["psn"]) % (1 << 24) <= 4096 for x in later)
        if not exact and not coal and last_at.get(p["dst"], -1) <= i:
            continue        # the responder sent nothing more: its test had ended
        rep.check(path, p, "ack_each", exact, "an ACK with PSN 0x%06x" % p["psn"],
                  "coalesced into a later ACK" if coal else "no ACK",
                  who="peer" if rep.who(p) == "self" else "self")


def main():
    args = sys.argv[1:]
    me, mtu, files = None, 1024, []
    while args:
        a = args.pop(0)
        if a == "--self":
            me = args.pop(0)
        elif a == "--mtu":
            mtu = int(args.pop(0))
        else:
            files.append((a, mtu))
    if not me or not files:
        raise SystemExit(__doc__)
    rep = Report(me)
    for path, m in files:
        check_file(path, rep, m)
    bad = 0
    names = sorted({c for _, c in list(rep.found) + list(rep.ok)})
    for who in ("self", "peer"):
        label = me if who == "self" else "peer"
        for c in names:
            found = rep.found.get((who, c), [])
            verdict = "ok"
            if found:
                verdict = "ALLOW" if c in ALLOWED else "DEV"
            line = "%-5s %-12s %-15s %6d ok %6d deviating" % (verdict, c, label,
                                                              rep.ok.get((who, c), 0), len(found))
            if found and c in ALLOWED:
                line += "  %s (%s)" % ALLOWED[c]
            print(line)
            if who == "self" and found and c not in ALLOWED:
                bad += 1
    for (who, c), lines in sorted(rep.found.items()):
        print("\n%s packets breaking %s (%d; first 5):" % (me if who == "self" else "peer", c, len(lines)))
        for l in lines[:5]:
            print("  " + l)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
