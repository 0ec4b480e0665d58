import torch

from crossmedia.seed import cpu_identity, cpuinfo_fields, machine_info

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14
stepping\t: 1
flags\t\t: fpu avx2 avx512f

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: Other
stepping\t: 0
"""


def test_cpuinfo_fields_reads_the_first_processor_only():
    f = cpuinfo_fields(CPUINFO)
    assert f["model name"] == "AMD EPYC 9R14" and f["cpu family"] == "25" and f["model"] == "17"
    assert f["flags"] == "fpu avx2 avx512f"
    assert cpuinfo_fields("\n\nprocessor : 3\nmodel name : X\n")["model name"] == "X"  # leading blank lines
    assert cpuinfo_fields("") == {}


def test_machine_records_name_the_kernels_instruction_set():
    ident = cpu_identity()
    assert ident["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    info = machine_info()
    assert {"cpu", "cpu_id", "cpu_capability", "cores", "python", "platform", "loadavg_at_start"} <= set(info)
    assert info["cpu_capability"] == ident["cpu_capability"]
