// libpcap declares the classic-BPF `struct bpf_insn` and `struct bpf_program`, which clash with linux/bpf.h's eBPF
// `struct bpf_insn` and libbpf's `struct bpf_program` when one Swift module imports both. They are renamed here
// (Swift sees `sluice_pcap_classic_bpf_insn` / `sluice_pcap_classic_bpf_program`, used by the filter compiler in
// Sources/Sluice/Filter); no function names change, so linking is unaffected.
#define bpf_insn sluice_pcap_classic_bpf_insn
#define bpf_program sluice_pcap_classic_bpf_program
#include <pcap/pcap.h>
#undef bpf_insn
#undef bpf_program
