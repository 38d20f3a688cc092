"""Checks on what SpF uploads: the guides served to everybody must be real PDFs of a reasonable size."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files import File

HELP_DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


def validate_help_document(value: File) -> None:
    """PDF only (extension and content), 10 MB at most."""
    # A file already stored was checked when it was uploaded; re-reading it from storage on every edit
    # of the title would only cost I/O.
    if getattr(value, "_committed", False):
        return
    if not (value.name or "").lower().endswith(".pdf"):
        raise ValidationError("Seuls les fichiers PDF (.pdf) sont acceptés.", code="help_document_extension")
    if value.size > HELP_DOCUMENT_MAX_BYTES:
        raise ValidationError(
            "Le fichier pèse %(size)s Mo : la limite est de %(limit)s Mo.",
            code="help_document_size",
            params={
                "size": f"{value.size / (1024 * 1024):.1f}".replace(".", ","),
                "limit": HELP_DOCUMENT_MAX_BYTES // (1024 * 1024),
            },
        )
    # The extension is only a name: check that the content really is a PDF.
    stream = value.file if hasattr(value, "file") else value
    position = stream.tell()
    stream.seek(0)
    head = stream.read(len(PDF_MAGIC))
    stream.seek(position)
    if head != PDF_MAGIC:
        raise ValidationError(
            "Ce fichier n'est pas un PDF valide (son contenu ne commence pas comme un PDF).",
            code="help_document_content",
        )
