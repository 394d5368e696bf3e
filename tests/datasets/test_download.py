"""Downloads from local archives (file:// URLs): checksums, unpacking, path traversal."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from gaugemesh.datasets import open_layout
from gaugemesh.datasets.download import DownloadError, download, safe_extract
from tests.datasets.helpers import make_meshcnn


def _tar(path, root, arcname):
    with tarfile.open(path, "w:gz") as tf:
        tf.add(root, arcname=arcname)
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_downloads_unpacks_and_strips_the_top_folder(tmp_path, caplog):
    archive = _tar(tmp_path / "human_seg.tar.gz", make_meshcnn(tmp_path / "src"), "human_seg")
    target = download("human_seg", tmp_path / "out", url=archive.as_uri())
    assert target == tmp_path / "out" / "human_seg"
    assert len(open_layout(target).items("train")) == 2
    assert _sha(archive) in caplog.text  # unknown checksum: the computed one is logged
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["human_seg"]  # no temporaries left


def test_checksum_mismatch_fails_and_leaves_nothing(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", make_meshcnn(tmp_path / "src"), "x")
    with pytest.raises(DownloadError, match="does not match"):
        download("coseg", tmp_path / "out", url=archive.as_uri(), sha256="0" * 64)
    assert list((tmp_path / "out").iterdir()) == []
    assert download("coseg", tmp_path / "out", url=archive.as_uri(), sha256=_sha(archive)).is_dir()


def test_zip_of_a_github_repository(tmp_path):
    archive = tmp_path / "rna.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("RNA-Surface-Segmentation-Dataset-abc/off/a.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
        zf.writestr("RNA-Surface-Segmentation-Dataset-abc/labels/a.txt", "0\n1\n2\n")
    target = download("rna", tmp_path / "out", url=archive.as_uri())
    assert (target / "off" / "a.off").is_file() and (target / "labels" / "a.txt").is_file()


def test_path_traversal_is_refused(tmp_path):
    evil_tar = tmp_path / "evil.tar"
    with tarfile.open(evil_tar, "w") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("../../escaped.txt", "bad")
    link_tar = tmp_path / "link.tar"
    with tarfile.open(link_tar, "w") as tf:
        info = tarfile.TarInfo("data/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    for archive in (evil_tar, evil_zip, link_tar):
        dest = tmp_path / f"dest_{archive.name}"
        dest.mkdir()
        with pytest.raises(DownloadError, match="unsafe"):
            safe_extract(archive, dest)
        assert list(dest.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


def test_unknown_name_and_unreachable_url(tmp_path):
    with pytest.raises(DownloadError, match="unknown dataset"):
        download("imagenet", tmp_path)
    with pytest.raises(DownloadError, match="could not fetch"):
        download("rna", tmp_path, url=(tmp_path / "missing.zip").as_uri())
