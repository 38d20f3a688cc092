"""The logistics export: a session's confirmed lines as a CSV with stable, documented columns.

A request creates the export row (state "en préparation") and a task writes the file; sending it to
logistics moves it to "envoyé" or "en échec". A re-export is a new row with the next number; nothing is
overwritten, so what was sent can always be found again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Department
from sessions_calendar.models import OrderSession
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.csvutils import BOM, neutralise
from vaccine_orders.orders.models import Order, OrderLine

from ..errors import FulfilmentError
from ..models import LogisticsExport, RegionalDeliveryDate, SessionFulfilment, export_upload_to

logger = logging.getLogger(__name__)

# The columns, in this order. Their names and meanings are a contract with the logistics provider:
# add columns at the end, never rename or reorder.
EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("session_id", "identifiant de la session de commande"),
    ("session_ouverture", "date d'ouverture de la session (AAAA-MM-JJ, heure de Paris)"),
    ("reference_commande", "référence de la commande de l'officine"),
    ("finess_officine", "FINESS géographique de l'officine livrée (9 caractères)"),
    ("raison_sociale_officine", "raison sociale de l'officine"),
    ("adresse_officine", "adresse de l'officine"),
    ("code_postal_officine", "code postal de l'officine"),
    ("commune_officine", "commune de l'officine"),
    ("code_region", "code INSEE de la région de l'officine"),
    ("date_livraison", "date de livraison prévue (AAAA-MM-JJ) : date de la région, sinon de la session"),
    ("code_type_effecteur", "type d'effecteur (pharmacist, doctor, nurse, ehpad…)"),
    ("type_effecteur", "libellé du type d'effecteur"),
    ("type_identifiant_effecteur", "RPPS, FINESS, ou vide pour les lignes de l'officine et des IDE"),
    ("identifiant_effecteur", "numéro RPPS ou FINESS de l'effecteur"),
    ("nom_effecteur", "nom de l'effecteur"),
    ("code_produit", "code du produit"),
    ("produit", "nom du produit"),
    ("rang_injection", "0 sans objet, 1 première injection, 2 seconde injection"),
    ("unite", "unité de commande : flacon, boîte ou unité"),
    ("quantite_confirmee", "quantité confirmée à livrer (entier > 0)"),
    ("quantite_demandee", "quantité demandée par l'officine"),
    ("motif_reduction", "motif si la quantité confirmée est inférieure à la demande"),
]
# Like every CSV of the service (vaccine_orders.csvutils): UTF-8 with a BOM, so that a spreadsheet opened in
# France reads the accents, semicolons, and free text that looks like a formula made inert.
CSV_DELIMITER = ";"


def _text(value: str) -> str:
    return neutralise(value or "")


def export_filename(export: LogisticsExport) -> str:
    return f"export-logistique-session-{export.session_id}-{export.sequence:03d}.csv"


def logistics_export_request(*, session: OrderSession, actor: Actor) -> LogisticsExport:
    """Create the next export of `session` and ask a worker to write it."""
    from ..tasks import generate_logistics_export

    with transaction.atomic():
        fulfilment, _ = SessionFulfilment.objects.get_or_create(session=session)
        # Lock the session's record so that two requests at once get consecutive numbers.
        SessionFulfilment.objects.select_for_update().get(pk=fulfilment.pk)
        last = LogisticsExport.objects.filter(session=session).aggregate(last=Max("sequence"))["last"] or 0
        export = LogisticsExport.objects.create(
            session=session, sequence=last + 1, created_by_label=actor.label[:255], created_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="fulfilment.export_requested",
            target=export,
            summary=f"Export logistique n° {export.sequence} de la session du {session.label_dates} demandé",
        )
        generate_logistics_export.delay_on_commit(export.pk)
    return export


def export_rows(*, session: OrderSession):
    """The CSV rows (without the header) of the confirmed lines of `session`, in a stable order."""
    fulfilment = SessionFulfilment.objects.filter(session=session).first()
    session_date = fulfilment.delivery_date if fulfilment and fulfilment.delivery_date else session.delivery_end
    regional = {}
    if fulfilment:
        regional = dict(
            RegionalDeliveryDate.objects.filter(fulfilment=fulfilment).values_list("region_id", "delivery_date")
        )
    regions = dict(Department.objects.values_list("pk", "region__code"))
    region_ids = dict(Department.objects.values_list("pk", "region_id"))
    opening = timezone.localtime(session.opens_at).date().isoformat()
    lines = (
        OrderLine.objects.filter(
            order__session=session, order__status=Order.Status.REGISTERED, quantity_confirmed__gt=0
        )
        .select_related(
            "order__pharmacy", "effector__type", "effector__professional", "effector__establishment", "product"
        )
        .order_by(
            "order__pharmacy__finess", "order__reference", "effector__type__sort_order", "product__sort_order", "pk"
        )
    )
    for line in lines.iterator(chunk_size=2000):
        pharmacy = line.order.pharmacy
        effector = line.effector
        delivery = regional.get(region_ids.get(pharmacy.department_id)) or session_date
        if effector.professional_id:
            id_type, identifier = "RPPS", effector.professional.rpps
            name = f"{effector.professional.first_name} {effector.professional.last_name}".strip()
        elif effector.establishment_id:
            id_type, identifier, name = "FINESS", effector.establishment.finess, effector.establishment.name
        else:
            id_type, identifier, name = "", "", effector.display_name
        yield [
            session.pk,
            opening,
            line.order.reference,
            pharmacy.finess,
            _text(pharmacy.name),
            _text(pharmacy.address),
            pharmacy.postal_code,
            _text(pharmacy.city),
            regions.get(pharmacy.department_id, ""),
            delivery.isoformat() if delivery else "",
            effector.type.code,
            _text(effector.type.label),
            id_type,
            identifier,
            _text(name),
            line.product.code,
            _text(line.product.name),
            line.injection_rank,
            line.product.get_unit_display(),
            line.quantity_confirmed,
            line.quantity_requested,
            _text(line.reduction_reason),
        ]


def logistics_export_generate(*, export_id: int) -> LogisticsExport:
    """Write the CSV of a pending export (a redelivered task finds it done and returns)."""
    export = LogisticsExport.objects.select_related("session").get(pk=export_id)
    if export.state != LogisticsExport.State.PENDING:
        return export
    try:
        digest = hashlib.sha256()
        count = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b") as spool:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            text.write(BOM)
            writer = csv.writer(text, delimiter=CSV_DELIMITER, lineterminator="\r\n")
            writer.writerow([name for name, _ in EXPORT_COLUMNS])
            for row in export_rows(session=export.session):
                writer.writerow(row)
                count += 1
            text.flush()
            spool.seek(0)
            for chunk in iter(lambda: spool.read(1 << 16), b""):
                digest.update(chunk)
            spool.seek(0)
            filename = export_filename(export)
            saved = default_storage.save(export_upload_to(export, filename), File(spool, name=filename))
            text.detach()
    except Exception as exc:
        logger.exception("logistics export %s failed", export_id)
        LogisticsExport.objects.filter(pk=export_id, state=LogisticsExport.State.PENDING).update(
            state=LogisticsExport.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    with transaction.atomic():
        won = LogisticsExport.objects.filter(pk=export_id, state=LogisticsExport.State.PENDING).update(
            state=LogisticsExport.State.GENERATED,
            file=saved,
            row_count=count,
            sha256=digest.hexdigest(),
            generated_at=timezone.now(),
            error="",
        )
        if not won:  # another worker wrote it first: keep theirs
            transaction.on_commit(lambda: default_storage.delete(saved))
        else:
            export.refresh_from_db()
            audit_record(
                actor=Actor.system("Export logistique"),
                action="fulfilment.export_generated",
                target=export,
                summary=f"Export n° {export.sequence} généré : {count} ligne(s)",
            )
    export.refresh_from_db()
    return export


def logistics_export_send(*, export_id: int, actor: Actor, at: datetime | None = None) -> LogisticsExport:
    """E-mail the file to logistics (LOGISTICS_EXPORT_EMAIL). Sending again is allowed (a lost e-mail)."""
    recipient = getattr(settings, "LOGISTICS_EXPORT_EMAIL", "")
    export = LogisticsExport.objects.select_related("session").get(pk=export_id)
    if not export.file or export.state == LogisticsExport.State.PENDING:
        raise FulfilmentError("export_not_generated")
    if not recipient:
        raise FulfilmentError("export_no_recipient")
    at = at or timezone.now()
    with default_storage.open(export.file.name, "rb") as handle:
        content = handle.read()
    message = EmailMessage(
        subject=f"Export logistique n° {export.sequence} – session du {export.session.label_dates}",
        body=(
            f"Bonjour,\n\nVeuillez trouver ci-joint l'export n° {export.sequence} des quantités confirmées de la "
            f"session du {export.session.label_dates} ({export.row_count} lignes, SHA-256 {export.sha256}).\n\n"
            "Santé publique France – Commande de vaccins"
        ),
        to=[recipient],
    )
    message.attach(export_filename(export), content, "text/csv")
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        with transaction.atomic():
            LogisticsExport.objects.filter(pk=export.pk).update(
                state=LogisticsExport.State.FAILED, error=f"Envoi impossible : {type(exc).__name__}: {exc}"[:2000]
            )
            audit_record(
                actor=actor,
                action="fulfilment.export_failed",
                target=export,
                summary=f"Échec de l'envoi de l'export n° {export.sequence} à {recipient}",
            )
        export.refresh_from_db()
        return export
    with transaction.atomic():
        LogisticsExport.objects.filter(pk=export.pk).update(
            state=LogisticsExport.State.SENT, sent_at=at, sent_to=recipient, error=""
        )
        audit_record(
            actor=actor,
            action="fulfilment.export_sent",
            target=export,
            summary=f"Export n° {export.sequence} envoyé à {recipient}",
        )
    export.refresh_from_db()
    return export
