# A first eBPF program in the bpf_conformance assembly syntax: read the EtherType of the frame in r1 (length in r2)
# and return it, or 0 for a frame shorter than an Ethernet header.
# Run it: sluice exec programs/asm/ethertype.s --mem "ffffffffffff 020000000001 0806 0001"
    mov %r0, 0
    jlt %r2, 14, done
    ldxh %r0, [%r1+12]
    be16 %r0
done:
    exit
