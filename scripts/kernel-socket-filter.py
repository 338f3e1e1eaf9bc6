#!/usr/bin/python3
"""Runs a classic BPF program in the kernel as a socket filter (SO_ATTACH_FILTER) over a capture's frames.

Usage (as root, inside a network namespace made for it):
    kernel-socket-filter.py PROGRAM.txt CAPTURE.pcap SEND_IFACE RECV_IFACE

PROGRAM.txt is `tcpdump -ddd` output (the count, then "code jt jf k" per line). Each frame of the capture (classic
pcap, Ethernet) is sent on SEND_IFACE with an AF_PACKET socket; a second AF_PACKET socket on RECV_IFACE, the
other end of a veth pair, has the filter attached. Runts and VLAN-tagged frames are not sent (see below). Prints the index of every frame that was sent and arrived
through the filter, one per line, then "sent N". Frames are matched to what arrives by their bytes, in order.
Used by Tests/SluiceTests/FilterKernelAgreementTests.swift; traffic is bounded by the capture and a 0.3 s wait for the last frames.
"""
import ctypes
import select
import socket
import struct
import sys
import time

SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def read_program(path):
    lines = open(path).read().split("\n")
    count = int(lines[0])
    insns = [tuple(int(x) for x in line.split()) for line in lines[1:1 + count]]
    array = (SockFilter * count)(*[SockFilter(*i) for i in insns])
    return array


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit("little-endian classic pcap only")
    offset = 24
    frames = []
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frames.append(data[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return frames


def main():
    program_path, capture, send_iface, recv_iface = sys.argv[1:5]
    program = read_program(program_path)
    frames = read_pcap(capture)

    receiver = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    fprog = SockFprog(len(program), program)
    # setsockopt with a raw buffer: the kernel copies sock_fprog (length + pointer) and then the instructions.
    receiver.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(ctypes.string_at(ctypes.addressof(fprog),
                                                                                     ctypes.sizeof(fprog))))
    receiver.bind((recv_iface, ETH_P_ALL))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sender.bind((send_iface, 0))

    sent = []
    for index, frame in enumerate(frames):
        # Runts cannot be sent; VLAN-tagged frames lose their tag on the way in (the kernel moves it into the skb's
        # metadata before packet sockets and their filters see the frame), so they are not comparable.
        if len(frame) < 14 or frame[12:14] in (b"\x81\x00", b"\x88\xa8"):
            continue
        try:
            sender.send(frame)
            sent.append(index)
        except OSError:
            pass
        time.sleep(0.0005)

    received = []
    deadline = time.time() + 0.3
    while time.time() < deadline:
        ready, _, _ = select.select([receiver], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        received.append(receiver.recv(65536))

    # Match arrivals to sent frames in order.
    position = 0
    for data in received:
        while position < len(sent) and frames[sent[position]] != data:
            position += 1
        if position == len(sent):
            print("unexpected frame of %d bytes" % len(data), file=sys.stderr)
            sys.exit(2)
        print(sent[position])
        position += 1
    print("sent %d" % len(sent))


if __name__ == "__main__":
    main()
