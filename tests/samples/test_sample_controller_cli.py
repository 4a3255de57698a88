"""The sample-controller's flags: each readable from the environment, bad values a clear exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from samples.sample_controller.cli import parse_args

NO_CLUSTER = {"HOME": "/nonexistent-home"}


def test_without_any_cluster_configured_it_runs_embedded_with_sample_controller_defaults() -> None:
    args = parse_args([], NO_CLUSTER)
    assert args.embedded and "no cluster configured" in args.embedded_reason
    assert (args.workers, args.once, args.leader_elect) == (2, False, False)
    assert args.metrics_bind_address == "0"  # embedded: nothing bound unless asked
    assert args.health_probe_bind_address == "0"


def test_every_flag_can_come_from_its_environment_variable(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {
        "HOME": "/nonexistent-home",
        "KUBECONFIG": str(kubeconfig),
        "SAMPLE_CONTROLLER_MASTER": "https://127.0.0.1:6443",
        "SAMPLE_CONTROLLER_WORKERS": "5",
        "SAMPLE_CONTROLLER_LEADER_ELECT": "true",
        "SAMPLE_CONTROLLER_LEADER_ELECTION_NAMESPACE": "ops",
        "SAMPLE_CONTROLLER_METRICS_BIND_ADDRESS": ":9090",
        "SAMPLE_CONTROLLER_HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:9091",
        "SAMPLE_CONTROLLER_ONCE": "yes",
        "SAMPLE_CONTROLLER_TIMEOUT": "12.5",
    }
    args = parse_args([], env)
    # $KUBECONFIG itself is loaded (and merged, when it lists several files) by the Manager.
    assert args.kubeconfig is None and args.master == "https://127.0.0.1:6443"
    assert (args.workers, args.leader_elect, args.leader_election_namespace) == (5, True, "ops")
    assert (args.metrics_bind_address, args.health_probe_bind_address) == (":9090", "127.0.0.1:9091")
    assert (args.once, args.timeout, args.embedded) == (True, 12.5, False)


def test_a_flag_wins_over_its_environment_variable() -> None:
    args = parse_args(["--workers", "3", "--embedded"], {**NO_CLUSTER, "SAMPLE_CONTROLLER_WORKERS": "7"})
    assert args.workers == 3 and args.embedded_reason == "--embedded"


def test_embedded_from_the_environment_ignores_an_existing_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\n")
    assert not parse_args([], {"HOME": str(tmp_path)}).embedded
    assert parse_args([], {"HOME": str(tmp_path), "SAMPLE_CONTROLLER_EMBEDDED": "1"}).embedded


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--workers", "0"], {}, "argument --workers: must be at least 1"),
        (["--workers", "two"], {}, "argument --workers: 'two' is not a whole number"),
        (["--metrics-bind-address", "localhost"], {}, "argument --metrics-bind-address"),
        (["--health-probe-bind-address", ":99999"], {}, "argument --health-probe-bind-address"),
        (["--timeout", "-1"], {}, "argument --timeout"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
        ([], {"SAMPLE_CONTROLLER_WORKERS": "-3"}, "SAMPLE_CONTROLLER_WORKERS='-3'"),
        ([], {"SAMPLE_CONTROLLER_LEADER_ELECT": "maybe"}, "SAMPLE_CONTROLLER_LEADER_ELECT='maybe'"),
        (["--kubeconfig", "/no/such/kubeconfig"], {}, "no such file"),
    ],
)
def test_bad_flags_and_variables_are_an_argparse_error_naming_them(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv, {**NO_CLUSTER, **env})
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
