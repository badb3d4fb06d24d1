"""Upload size limit enforced while the file streams in.

Django's own handlers keep reading an upload of any size (to memory, then to a temporary
file) before a view can look at it. This handler counts the bytes as they arrive and stops
storing the file once it passes LAB_MAX_UPLOAD_BYTES; the view then reads
`request.upload_refused` and says why nothing was imported.
"""
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


def upload_limit_message(limit=None):
    limit = settings.LAB_MAX_UPLOAD_BYTES if limit is None else limit
    return f"The file is larger than {limit / 2**20:.0f} MB; split it into smaller files."


class SizeLimitUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: passes chunks on until the limit, then stops the upload."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.LAB_MAX_UPLOAD_BYTES:
            self.request.upload_refused = upload_limit_message()
            raise StopUpload(connection_reset=False)  # the rest of the body is read and dropped
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) builds the file
