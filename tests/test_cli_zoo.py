from nos.cli.zoo import main, table
from reference_networks import REFERENCE


def test_table_lists_all_25_with_reference_params():
    lines = table().splitlines()[1:]
    assert len(lines) == 25
    for line in lines:
        name, variant, params, macs, layers = line.split()
        ref_params, ref_macs, ref_layers, _ = REFERENCE[(name, variant)]
        assert float(params) == round(ref_params / 1e6, 4)
        assert float(macs) == round(ref_macs / 1e6, 2)
        assert int(layers) == ref_layers


def test_cli_prints_one_network_and_rejects_unknown_names(capsys):
    assert main(["mobilenet_v2", "fuse_half"]) == 0
    assert capsys.readouterr().out.startswith("nos.arch/1 mobilenet_v2/fuse_half")
    assert main(["resnet50"]) == 2
    err = capsys.readouterr().err
    assert "name: unknown zoo network 'resnet50' (allowed: mobilenet_v1" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
