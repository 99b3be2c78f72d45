import tarfile
import zipfile


def unpack(archive, dest):
    with tarfile.open(archive) as tar:
        # ruleid: tarfile-extractall-unfiltered
        tar.extractall(dest)
    tf = tarfile.open(archive, "r:gz")
    # ruleid: tarfile-extractall-unfiltered
    tf.extract("config.yml", path=dest)
    with tarfile.open(archive) as tar:
        # ok: tarfile-extractall-unfiltered
        tar.extractall(dest, filter="data")
    with zipfile.ZipFile(archive) as zf:
        # ok: tarfile-extractall-unfiltered
        zf.extractall(dest)
