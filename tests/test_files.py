"""files.py: regular files only, atomic writes read back, the folder lock and its probe, true causes."""
import errno
import os

import pytest

from mxsoftmax import files
from mxsoftmax.errors import WriteFailed

from conftest import held


def test_the_cause_names_long_names_and_links_that_lead_nowhere(tmp_path):
    long_name = tmp_path / ("é" * 130)  # 130 characters, 260 bytes: the limit is in bytes
    assert files.cause(str(long_name)) == ("a name in it is 260 bytes long; a file name has at "
                                           "most 255")
    deep = str(tmp_path) + "/abc" * 1100
    assert files.cause(deep).startswith("it is %d bytes long; a path has at most 4095"
                                        % len(os.fsencode(os.path.abspath(deep))))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert files.cause(str(link)) == ("it is a symbolic link to %s, which does not exist"
                                      % (tmp_path / "nowhere"))
    inner = str(link / "run")  # a folder on the way leads nowhere
    assert files.cause(inner) == ("%s is a symbolic link to %s, which does not exist"
                                  % (link, tmp_path / "nowhere"))
    assert files.cause(str(tmp_path / "plain")) == files.NOT_THERE == "it does not exist"
    (tmp_path / "file").write_text("x")
    err = OSError(errno.ENOTDIR, "Not a directory")
    assert files.cause(str(tmp_path / "file"), err) == "it is a file, not a folder"
    for inside in ("sub", "sub/run"):  # a file on the way, whose name ENOTDIR does not give
        assert files.cause(str(tmp_path / "file" / inside), err) == "%s is a file, not a folder" % (
            tmp_path / "file")
    assert files.cause(str(tmp_path), OSError(errno.EACCES, "Permission denied")) == \
        "Permission denied"


def test_the_os_words_that_mislead_are_replaced_when_a_lock_is_taken(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(files.InvalidInput) as caught:
        files.FolderLock(str(link)).acquire()  # the OS says "File exists"
    assert str(caught.value) == ("%s cannot be used (it is a symbolic link to %s, which does not "
                                 "exist): choose a folder you can write to."
                                 % (link, tmp_path / "nowhere"))
    assert caught.value.path == str(link) and not os.path.exists(tmp_path / "nowhere")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".lock").symlink_to(tmp_path / "victim")  # O_NOFOLLOW says "Too many levels..."
    with pytest.raises(files.InvalidInput, match=r"\.lock is a symbolic link, not a lock file: "
                       r"remove it, or choose another folder\.\Z"):
        files.FolderLock(str(folder)).acquire()
    assert not os.path.exists(tmp_path / "victim")
    with pytest.raises(files.InvalidInput, match="a name in it is 300 bytes long; a file name "
                       "has at most 255\\): use another place\\.\\Z"):
        files.FolderLock(str(tmp_path / ("x" * 300)), advice="use another place").acquire()


def test_a_held_lock_carries_its_facts(tmp_path):
    with held(str(tmp_path)):
        with pytest.raises(files.Locked) as caught:
            files.FolderLock(str(tmp_path)).acquire()
    err = caught.value
    assert (err.folder, err.holder, err.who) == (str(tmp_path), str(os.getpid()), "process")
    assert str(err) == ("%s is in use by another mxsoftmax process (PID %d): wait for it to "
                        "finish, or choose another folder." % (tmp_path, os.getpid()))


def test_the_lock_proves_the_folder_takes_files_and_leaves_no_probe(tmp_path, monkeypatch):
    made = []

    def refused(**kwargs):  # what a folder without write permission answers (root may write)
        made.append(kwargs["dir"])
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(files.tempfile, "TemporaryFile", refused)
    with pytest.raises(files.InvalidInput, match="%s cannot take files \\(Permission denied\\): "
                       "choose a folder you can write to" % tmp_path):
        files.FolderLock(str(tmp_path)).acquire()
    assert made == [str(tmp_path)] and os.listdir(tmp_path) == []  # lock file removed
    monkeypatch.undo()
    lock = files.FolderLock(str(tmp_path))
    lock.acquire()
    assert os.listdir(tmp_path) == [".lock"]
    stale = tmp_path / "..lock.abcd_123.part"  # a probe left by a kill, swept as ours
    stale.write_text("")
    lock.sweep(lambda name: False)
    lock.release()
    assert os.listdir(tmp_path) == [".lock"]


def test_write_bytes_reads_back_before_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    files.write_bytes(str(path), b"abc" * 1000)
    assert path.read_bytes() == b"abc" * 1000
    real_open = open

    def short_open(name, mode="r", *args, **kwargs):  # a disk that drops the last bytes silently
        f = real_open(name, mode, *args, **kwargs)
        if "w" in mode:
            write = f.write
            f.write = lambda data: write(data[:-10])
        return f
    monkeypatch.setattr("builtins.open", short_open)
    with pytest.raises(WriteFailed, match="cannot write %s \\(the file written is incomplete; is "
                                          "the disk full\\?\\)" % path):
        files.write_bytes(str(path), b"xyz" * 1000)
    monkeypatch.undo()
    assert path.read_bytes() == b"abc" * 1000 and os.listdir(tmp_path) == ["f.bin"]


def test_a_path_holding_a_nul_is_a_file_that_cannot_be_read():
    """os.open raises ValueError for a NUL in a path: every reader says so as of a file it cannot read."""
    with pytest.raises(OSError) as caught:
        files.open_regular("a\0b")
    assert caught.value.errno == errno.EINVAL and "null" in caught.value.strerror  # Python words it


def test_an_atomic_write_syncs_the_file_before_the_rename_and_its_folder_after(tmp_path, monkeypatch):
    """A power loss after the rename must not leave an empty or short file under the name."""
    done, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: done.append(("fsync", os.readlink("/proc/self/fd/%d" % fd)))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: done.append(("replace", a, b)) or real_replace(a, b))
    path = str(tmp_path / "f.bin")
    files.write_bytes(path, b"abc")
    monkeypatch.undo()
    tmp = done[1][1]
    assert os.path.basename(tmp).startswith(".f.bin.") and done == [
        ("fsync", tmp), ("replace", tmp, path), ("fsync", str(tmp_path))]


def test_a_folder_that_cannot_be_synced_after_the_rename_keeps_the_written_file(tmp_path, monkeypatch):
    """No fsync for folders on some file systems (EINVAL), or a folder that cannot be listed: the
    file is written all the same, and no failure is reported."""
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.isdir("/proc/self/fd/%d" % fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    files.write_bytes(str(tmp_path / "f.bin"), b"abc")
    assert (tmp_path / "f.bin").read_bytes() == b"abc"


def test_a_lock_file_another_program_wrote_is_refused_and_left_as_it_was(tmp_path):
    for content, ours in (("foreign\n", False), ("123 456\n", False), ("123\n", True), ("", True),
                          ("123\n[05:00:24] MXNet's log, written to a closed stderr", True)):
        (tmp_path / ".lock").write_text(content)
        lock = files.FolderLock(str(tmp_path))
        assert lock.foreign() is not ours
        if ours:  # a run's, killed (or before it wrote its PID): taken over
            lock.acquire()
            lock.release()
            assert (tmp_path / ".lock").read_text() == "%d\n" % os.getpid()
        else:
            with pytest.raises(files.InvalidInput, match="^%s holds something other than a process ID, so "
                               "it is another program's file, not mxsoftmax's lock: move it away, or "
                               "choose another folder.$" % (tmp_path / ".lock")):
                lock.acquire()
            assert (tmp_path / ".lock").read_text() == content
    assert not files.FolderLock(str(tmp_path / "new")).foreign()
    (tmp_path / ".lock").unlink()
    (tmp_path / ".lock").mkdir()  # unreadable as a file: not known to be another's, refused as it is
    assert not files.FolderLock(str(tmp_path)).foreign()


def test_a_busy_lock_names_its_holder_from_its_first_line(tmp_path):
    """An older build's lock could hold MXNet's log after the PID (written through a closed stderr)."""
    with held(str(tmp_path)):
        with open(tmp_path / ".lock", "a") as f:
            f.write("[05:00:24] graph_executor.cc:462: assign data entry\n")
        with pytest.raises(files.Locked) as refused:
            files.FolderLock(str(tmp_path), who="run").acquire()
    assert refused.value.holder == str(os.getpid())
