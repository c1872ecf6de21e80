"""``cctv-agent cut``, the offline export: a signed clip in a folder, and clean refusals."""

from pathlib import Path

import av
import pytest

from cctv_common.evidence import verify
from edge_agent.cli import main
from edge_agent.store.segment_index import SegmentIndex
from tests.support.segment_files import CAMERA, index_rows, make_segments


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An agent data folder with 8 s of indexed H.264 segments of cam-1, and its config."""
    root = tmp_path_factory.mktemp("site")
    data = root / "data"
    segments = data / "segments"
    make_segments(segments / CAMERA, "h264", 8, reset_timestamps=True)
    index = SegmentIndex(data / "index.db")
    for row in index_rows(segments):
        index.add_segment(row)
    index.close()
    config = root / "agent.toml"
    config.write_text(
        f'site_id = "high-street"\ndata_dir = "{data}"\n'
        f'[[cameras]]\nid = "{CAMERA}"\nrtsp_url = "rtsp://user:secret@10.0.0.5/stream"\n'
    )
    return config


def cut(config: Path, out: Path, start: str, end: str, camera: str = CAMERA) -> int:
    window = ["--start", start, "--end", end]
    return main(["cut", "--config", str(config), "--camera", camera, *window, "--out", str(out)])


def test_cut_writes_a_signed_clip_that_verifies(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "usb" / "crime-ref-1234"
    assert cut(site, out, "2026-11-23T10:00:02.5Z", "2026-11-23T10:00:05Z") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "agent_public_key.pem",
        "clip.mp4",
        "manifest.json",
        "manifest.sig",
    ]
    printed = capsys.readouterr().out
    assert "verify:" in printed
    key = str(out / "agent_public_key.pem")
    assert verify.main([str(out), "--public-key", key]) == 0
    manifest = verify.verify_evidence_dir(out, verify.load_public_key(Path(key).read_bytes()))
    assert manifest.manifest.camera.stream_uri == "rtsp://10.0.0.5/stream"  # no credentials
    assert manifest.manifest.method == "stream-copy"
    with av.open(str(out / "clip.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"

    data = bytearray((out / "clip.mp4").read_bytes())
    data[len(data) // 3] ^= 0xFF
    (out / "clip.mp4").write_bytes(bytes(data))
    assert verify.main([str(out), "--public-key", key]) == 1


@pytest.mark.parametrize(
    ("start", "end", "camera", "message"),
    [
        ("2026-11-23T10:00:05Z", "2026-11-23T10:00:05Z", CAMERA, "is not after start"),
        ("2026-11-23T10:00:05Z", "2026-11-23T10:00:01Z", CAMERA, "is not after start"),
        ("2026-11-22T10:00:00Z", "2026-11-23T10:00:05Z", CAMERA, "over the 24 h limit"),
        ("2026-11-23T10:00:00Z", "2026-11-23T10:00:05Z", "cam-9", "unknown camera"),
        ("2026-11-23T11:00:00Z", "2026-11-23T11:00:05Z", CAMERA, "buffer holds"),
        ("2026-11-23T10:00:00", "2026-11-23T10:00:05Z", CAMERA, "no time zone"),
        ("yesterday", "2026-11-23T10:00:05Z", CAMERA, "not an ISO-8601 time"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    start: str,
    end: str,
    camera: str,
    message: str,
) -> None:
    out = tmp_path / "out"
    assert cut(site, out, start, end, camera) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_existing_evidence_is_never_overwritten(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.mp4").write_bytes(b"earlier evidence")
    assert cut(site, out, "2026-11-23T10:00:01Z", "2026-11-23T10:00:03Z") == 2
    assert "already holds clip.mp4" in capsys.readouterr().err
    assert (out / "clip.mp4").read_bytes() == b"earlier evidence"
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4"]
