#!/usr/bin/env python3
"""checks-test.py - the interop suite's capture checks on synthetic captures.

wire-check.py's udp_sport rule on captures of several RC connections between
the same two addresses: the QPNs and UDP source ports are those of an ibv_srq_pingpong run (four
QPs) between softodp (10.99.0.1) and kernel rxe (10.99.0.2): kernel QPN
0x6c's pair has port 52204, while the pair of kernel QPN 0x6a has port 50519,
which is also what kernel QPN 0x6c and softodp QPN 0x61d4 would give. The
kernel's ports are the reference: each pair's two ends use the same one.

last-ack.py's verdict on a pingpong's failed last send: the race of the
tool's missing closing handshake only when the impairment's log shows every
answer to that send lost.
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOFTODP, KERNEL = "10.99.0.1", "10.99.0.2"
RC_SEND_ONLY, RC_ACK = 0x04, 0x11
AETH_ACK = 0x1f
# (kernel QPN, softodp QPN, UDP source port both ends used)
PAIRS = [(0x69, 0xc3c6, 52274), (0x6a, 0xcc20, 50519),
         (0x6b, 0x61d4, 58301), (0x6c, 0xb442, 52204)]


def ip_addr(s):
    return bytes(int(x) for x in s.split("."))


def frame(src, dst, sport, op, dqp, psn, ackreq, body):
    bth = struct.pack(">BBHII", op, 0, 0xffff, dqp, (ackreq << 31) | psn)
    roce = bth + body + b"\0" * 4        # ICRC: not wire-check's business
    udp = struct.pack(">HHHH", sport, 4791, 8 + len(roce), 0) + roce
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     ip_addr(src), ip_addr(dst)) + udp
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip


def exchange(pairs):
    """Each side SENDs once on every connection and the other side ACKs."""
    out = []
    for i, (kq, sq, sport, ssport) in enumerate(pairs):
        psn = 0x100000 + 0x1000 * i
        out.append(frame(SOFTODP, KERNEL, ssport, RC_SEND_ONLY, kq, psn, 1, b"ping"))
        out.append(frame(KERNEL, SOFTODP, sport, RC_ACK, sq, psn, 0,
                         struct.pack(">I", AETH_ACK << 24 | 1)))
        psn = 0x200000 + 0x1000 * i
        out.append(frame(KERNEL, SOFTODP, sport, RC_SEND_ONLY, sq, psn, 1, b"pong"))
        out.append(frame(SOFTODP, KERNEL, ssport, RC_ACK, kq, psn, 0,
                         struct.pack(">I", AETH_ACK << 24 | 1)))
    return out


def write_pcap(path, frames, times=None):
    """frames at times (seconds; one a second from 0 when not given)"""
    times = times or list(range(len(frames)))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for t, fr in zip(times, frames):
            us = round(t * 1e6)
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(fr), len(fr)) + fr)


def run(tool, *args):
    r = subprocess.run([sys.executable, os.path.join(HERE, tool)] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return r.returncode, r.stdout


def wire_check(frames):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "case.pcap")
        write_pcap(path, frames)
        rc, out = run("wire-check.py", "--self", SOFTODP, path)
    verdict = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] == "udp_sport":
            verdict[f[2]] = f[0]
    return rc, verdict, out


class UdpSport(unittest.TestCase):
    def test_each_connection_is_held_to_its_own_pairs_port(self):
        rc, verdict, out = wire_check(exchange([(k, s, p, p) for k, s, p in PAIRS]))
        self.assertEqual(verdict, {SOFTODP: "ok", "peer": "ok"}, out)
        self.assertEqual(rc, 0, out)

    def test_port_of_another_connection_is_a_deviation(self):
        # softodp sends on kernel QPN 0x6c's connection from the port that
        # belongs to kernel QPN 0x6a's
        pairs = [(k, s, p, 50519 if k == 0x6c else p) for k, s, p in PAIRS]
        rc, verdict, out = wire_check(exchange(pairs))
        self.assertEqual(verdict, {SOFTODP: "DEV", "peer": "ok"}, out)
        self.assertEqual(rc, 1, out)


# softodp the server (QPN 0x4044), kernel rxe the client (QPN 0x12), one
# connection; the server's last SEND has PSN LAST_PSN
SRV_QPN, CLI_QPN, SPORT = 0x4044, 0x12, 52482
LAST_PSN = 0xb0ab84
T0 = 1795702550.0


def ack(src, dst, dqp, psn):
    return frame(src, dst, SPORT, RC_ACK, dqp, psn, 0, struct.pack(">I", AETH_ACK << 24 | 20))


def last_send_capture():
    """(times, frames): the client's last SEND and its ACK, the server's last
    SEND, the client's ACK of it at T0 + 0.003, then the server's
    retransmissions one timeout apart, unanswered."""
    cpsn = 0x27096c
    fr = [(T0, frame(KERNEL, SOFTODP, SPORT, RC_SEND_ONLY, SRV_QPN, cpsn, 1, b"ping")),
          (T0 + 0.001, ack(SOFTODP, KERNEL, CLI_QPN, cpsn)),
          (T0 + 0.002, frame(SOFTODP, KERNEL, SPORT, RC_SEND_ONLY, CLI_QPN, LAST_PSN, 1, b"pong")),
          (T0 + 0.003, ack(KERNEL, SOFTODP, SRV_QPN, LAST_PSN))]
    for i in range(1, 8):
        fr.append((T0 + 0.003 + 0.067 * i,
                   frame(SOFTODP, KERNEL, SPORT, RC_SEND_ONLY, CLI_QPN, LAST_PSN, 1, b"pong")))
    return [t for t, _ in fr], [f for _, f in fr]


def last_ack(events, logged=None):
    """last-ack.py on last_send_capture() and an event log of @events, lines
    (time, what, opcode, dqpn, psn) of the kernel -> softodp direction"""
    with tempfile.TemporaryDirectory() as d:
        pcap, evf = os.path.join(d, "case.pcap"), os.path.join(d, "impair-events.txt")
        times, frames = last_send_capture()
        write_pcap(pcap, frames, times)
        n = len(events)
        with open(evf, "w") as f:
            f.write("# impairment events: %d logged of %d\n" % (n, n if logged is None else logged))
            for t, what, op, dqpn, psn in events:
                f.write("%.6f kernel->softodp %-10s opcode 0x%02x dqpn 0x%06x psn 0x%06x\n"
                        % (t, what, op, dqpn, psn))
        return run("last-ack.py", "--softodp", SOFTODP, "--failed", "softodp", pcap, evf)


class LastAck(unittest.TestCase):
    def test_last_send_whose_only_ack_was_dropped_is_the_tools_race(self):
        rc, out = last_ack([(T0 + 0.003, "dropped", RC_ACK, SRV_QPN, LAST_PSN)])
        self.assertEqual(rc, 0, out)
        self.assertIn("PSN 0x%06x" % LAST_PSN, out)

    def test_last_send_whose_ack_got_through_is_a_failure(self):
        rc, out = last_ack([])
        self.assertEqual(rc, 1, out)

    def test_ack_held_and_released_while_the_server_sent_got_through(self):
        rc, out = last_ack([(T0 + 0.003, "held", RC_ACK, SRV_QPN, LAST_PSN),
                            (T0 + 0.004, "released", RC_ACK, SRV_QPN, LAST_PSN)])
        self.assertEqual(rc, 1, out)

    def test_drop_of_another_packet_does_not_count(self):
        rc, out = last_ack([(T0 + 0.003, "dropped", RC_ACK, SRV_QPN, LAST_PSN - 1)])
        self.assertEqual(rc, 1, out)

    def test_incomplete_event_log_decides_nothing(self):
        rc, out = last_ack([(T0 + 0.003, "dropped", RC_ACK, SRV_QPN, LAST_PSN)], logged=2)
        self.assertEqual(rc, 1, out)
        self.assertIn("incomplete", out)


if __name__ == "__main__":
    unittest.main()
