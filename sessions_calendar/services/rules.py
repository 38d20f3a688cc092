"""Saving the rules of a session (products open, national stocks, box sizes, caps per effector type).

One entry point, `session_rules_save`, used by the rules page, "copier les règles de la session
précédente" and the DGS table import: validate everything (every contradiction reported at once), lock,
re-check, write the difference, audit, and report the existing orders the new rules put over the cap.
Existing orders are never rewritten: logistics decides at confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from effectors.models import EffectorType
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.orders.models import Product

from ..errors import MESSAGES, SessionError
from ..formatting import day_range, local_instant
from ..models import CapRule, OrderSession, ProductOffer
from ..rules import (
    LIMITED_MODES,
    RANK_SUFFIX,
    Mode,
    ProductRules,
    RuleChange,
    SessionRules,
    cell_field,
    diff,
    fingerprint,
    product_field,
    ranks_for,
    serialize,
)
from ..selectors import OverCap, orders_over_cap, session_previous, session_rules


@dataclass
class RulesSaveResult:
    changes: list[RuleChange] = field(default_factory=list)
    over_cap: list[OverCap] = field(default_factory=list)  # everything over the rules now in force
    newly_over_cap: list[OverCap] = field(default_factory=list)  # what this change put over


def _dates(session: OrderSession) -> str:
    return day_range(
        timezone.localtime(session.opens_at).date(), timezone.localtime(session.closes_at).date(), year=True
    )


def rules_editable_check(*, session: OrderSession, now: datetime | None = None) -> None:
    """Refuse with a clear message when the rules of `session` can no longer change."""
    now = now or timezone.now()
    if session.closes_at <= now:
        raise SessionError(
            MESSAGES["rules_closed_session"].format(dates=_dates(session), closed=local_instant(session.closes_at))
        )
    if session.is_closed_week:
        raise SessionError(MESSAGES["rules_closed_week"].format(dates=_dates(session)))


def rules_validate(
    *,
    rules: SessionRules,
    products: dict[int, Product],
    types: dict[int, EffectorType],
    stock_taken: dict[int, int] | None = None,
) -> None:
    """Every contradiction in `rules`, reported together (SessionError.errors, and field_errors keyed by
    the rules page's field names). Nothing is read from or written to the database here."""
    stock_taken = stock_taken or {}  # product id → stock taken, for the products the session offers now
    errors: list[str] = []
    field_errors: dict[str, list[str]] = {}

    def refuse(key: str, message: str) -> None:
        errors.append(message)
        field_errors.setdefault(key, []).append(message)

    for product_id, entry in rules.items():
        product = products.get(product_id)
        if product is None:
            errors.append(f"Produit inconnu (n° {product_id}).")
            continue
        name = product.short_name
        taken = stock_taken.get(product_id, 0)
        if not entry.is_open:
            if entry.national_stock is not None:
                refuse(
                    product_field(product_id, "stock"),
                    f"{name} : un stock national est indiqué mais le produit n'est pas ouvert à la commande.",
                )
            if entry.box_size is not None:
                refuse(
                    product_field(product_id, "box"),
                    f"{name} : une taille de boîte est indiquée mais le produit n'est pas ouvert à la commande.",
                )
            for (type_id, rank), cell in entry.cells.items():
                type_label = types[type_id].label if type_id in types else str(type_id)
                refuse(
                    cell_field(product_id, rank, type_id, "mode"),
                    f"{name} / {type_label}{RANK_SUFFIX.get(rank, '')} : règle « {cell.describe()} » sur un produit "
                    "qui n'est pas ouvert à la commande. Cochez « Ouvert » ou videz la cellule.",
                )
            if taken:
                refuse(
                    product_field(product_id, "open"),
                    f"{name} : {taken} unités du stock national sont déjà réservées par des commandes ; le produit "
                    "ne peut pas être retiré de la session (mettez ses règles à « Non ouvert à la commande »).",
                )
            continue

        if not product.is_active and product_id not in stock_taken:  # already offered: may stay until closed
            refuse(
                product_field(product_id, "open"), f"{name} n'est plus actif au catalogue : il ne peut pas être ouvert."
            )
        if entry.box_size is not None and entry.box_size < 1:
            refuse(product_field(product_id, "box"), f"{name} : la taille de boîte doit être au moins 1.")
        if entry.national_stock is not None and entry.national_stock < 1:
            refuse(
                product_field(product_id, "stock"),
                f"{name} : le stock national doit être au moins 1 (laissez vide s'il n'y en a pas).",
            )
        elif entry.national_stock is not None and entry.national_stock < taken:
            refuse(
                product_field(product_id, "stock"),
                f"{name} : le stock national ({entry.national_stock}) ne peut être inférieur aux {taken} unités déjà "
                "réservées par des commandes.",
            )
        elif entry.national_stock is None and taken:
            refuse(
                product_field(product_id, "stock"),
                f"{name} : {taken} unités sont déjà réservées sur le stock national ; il ne peut pas être retiré.",
            )
        allowed_ranks = ranks_for(product.has_injection_rank)
        any_open = False
        for (type_id, rank), cell in entry.cells.items():
            key = cell_field(product_id, rank, type_id, "mode")
            limit_key = cell_field(product_id, rank, type_id, "limit")
            type_label = types[type_id].label if type_id in types else None
            where = f"{name}{RANK_SUFFIX.get(rank, '')} / {type_label}"
            if type_label is None:
                refuse(key, f"{name} : type d'effecteur inconnu (n° {type_id}).")
                continue
            if rank not in allowed_ranks:
                refuse(
                    key,
                    f"{where} : {name} se commande par rang d'injection (1re, 2nde)."
                    if product.has_injection_rank
                    else f"{where} : {name} ne se commande pas par rang d'injection.",
                )
                continue
            if cell.mode not in Mode.values:
                refuse(key, f"{where} : règle inconnue « {cell.mode} ».")
                continue
            if cell.mode in LIMITED_MODES:
                if cell.limit is None or cell.limit < 1:
                    refuse(limit_key, f"{where} : indiquez un plafond (au moins 1) pour « {Mode(cell.mode).label} ».")
                    continue
                if entry.box_size and cell.limit % entry.box_size:
                    refuse(
                        limit_key,
                        f"{where} : le plafond ({cell.limit}) n'est pas un nombre entier de boîtes de "
                        f"{entry.box_size} ; les quantités se commandent par boîtes entières.",
                    )
                if entry.national_stock is not None and cell.limit > entry.national_stock:
                    refuse(
                        limit_key,
                        f"{where} : le plafond ({cell.limit}) dépasse le stock national ({entry.national_stock}).",
                    )
            elif cell.limit is not None:
                refuse(
                    limit_key,
                    f"{where} : un plafond chiffré ne va qu'avec « par effecteur » ou « par officine » "
                    f"(règle choisie : « {Mode(cell.mode).label} »).",
                )
            any_open = any_open or cell.is_open
        if not any_open:
            refuse(
                product_field(product_id, "open"),
                f"{name} est ouvert à la commande mais aucun type d'effecteur ne peut le commander : ouvrez au "
                "moins une cellule ou décochez « Ouvert ».",
            )
    if errors:
        raise SessionError(MESSAGES["rules_invalid"], errors=errors, field_errors=field_errors)


def _labels() -> tuple[dict[int, Product], dict[int, EffectorType]]:
    products = {p.pk: p for p in Product.objects.all()}
    types = {t.pk: t for t in EffectorType.objects.all()}
    return products, types


def rules_serialize(rules: SessionRules) -> dict:
    products, types = _labels()
    return serialize(
        rules,
        product_codes={pk: p.code for pk, p in products.items()},
        type_codes={pk: t.code for pk, t in types.items()},
    )


def rules_fingerprint(*, session: OrderSession) -> str:
    """Changes when the stored rules change: the import preview carries it to detect a stale confirmation."""
    return fingerprint(rules_serialize(session_rules(session=session)))


def rules_diff(before: SessionRules, after: SessionRules) -> list[RuleChange]:
    products, types = _labels()
    return diff(
        before,
        after,
        product_names={pk: p.short_name for pk, p in products.items()},
        type_labels={pk: t.label for pk, t in types.items()},
    )


def session_rules_save(
    *,
    session: OrderSession,
    rules: SessionRules,
    actor: Actor,
    expected_fingerprint: str | None = None,
    now: datetime | None = None,
    source: str = "page des règles",
) -> RulesSaveResult:
    """Replace the rules of `session` by `rules` (products absent from `rules` are not open).

    Refuses a closed session, a closed week, and every contradiction. Allowed on an open session: the
    change is audited and the result lists the orders it puts over the cap.
    """
    products, types = _labels()
    codes = {
        "product_codes": {pk: p.code for pk, p in products.items()},
        "type_codes": {pk: t.code for pk, t in types.items()},
    }
    with transaction.atomic():
        # Rule edits of one session queue behind each other: each one is checked against the previous.
        session = OrderSession.objects.select_for_update().get(pk=session.pk)
        has_open = any(entry.is_open for entry in rules.values())
        if has_open or session.offers.exists():
            rules_editable_check(session=session, now=now)
        # Lock the offers too: the ordering service takes national stock on these rows, and the stock
        # check below must see what is really taken.
        offers = {
            o.product_id: o for o in ProductOffer.objects.select_for_update().filter(session=session).order_by("pk")
        }
        before = session_rules(session=session)
        if expected_fingerprint is not None and fingerprint(serialize(before, **codes)) != expected_fingerprint:
            raise SessionError(MESSAGES["rules_stale"])
        full = {pid: rules.get(pid, ProductRules()) for pid in set(rules) | set(before)}
        rules_validate(
            rules=full, products=products, types=types, stock_taken={pid: o.stock_taken for pid, o in offers.items()}
        )
        full = {pid: entry.normalized() for pid, entry in full.items()}
        changes = diff(
            before,
            full,
            product_names={pk: p.short_name for pk, p in products.items()},
            type_labels={pk: t.label for pk, t in types.items()},
        )
        if not changes:
            return RulesSaveResult(over_cap=orders_over_cap(session=session) if session.orders.exists() else [])

        has_orders = session.orders.exists()
        over_before = {o.key for o in orders_over_cap(session=session)} if has_orders else set()
        _apply(session=session, offers=offers, rules=full)
        over_after = orders_over_cap(session=session) if has_orders else []
        newly = [o for o in over_after if o.key not in over_before]
        audit_record(
            actor=actor,
            action="session.rules_update",
            target=session,
            summary=f"Règles modifiées ({source}) : "
            + " ; ".join(f"{c.product} : {c.text}" for c in changes)[:3000]
            + (f" — {len(newly)} dépassement(s) de plafond créé(s) sur des commandes existantes." if newly else ""),
            before=serialize(before, **codes),
            after={
                "rules": serialize(full, **codes),
                "newly_over_cap": [
                    {
                        "order": o.order_reference,
                        "reason": o.reason,
                        "product": o.product_name,
                        "quantity": o.quantity,
                        "allowed": o.allowed,
                    }
                    for o in newly[:200]
                ],
            },
        )
    return RulesSaveResult(changes=changes, over_cap=over_after, newly_over_cap=newly)


def _apply(*, session: OrderSession, offers: dict[int, ProductOffer], rules: SessionRules) -> None:
    for product_id, entry in rules.items():
        offer = offers.get(product_id)
        if not entry.is_open:
            if offer is not None:
                offer.delete()  # its cap rules go with it; validation made sure no stock is held
            continue
        try:
            with transaction.atomic():
                if offer is None:
                    offer = ProductOffer.objects.create(
                        session=session,
                        product_id=product_id,
                        national_stock=entry.national_stock,
                        box_size=entry.box_size,
                    )
                elif (offer.national_stock, offer.box_size) != (entry.national_stock, entry.box_size):
                    # Never write stock_taken: the ordering service owns it (conditional updates).
                    ProductOffer.objects.filter(pk=offer.pk).update(
                        national_stock=entry.national_stock, box_size=entry.box_size
                    )
        except IntegrityError as exc:  # the stock fell below what an order took between check and write
            raise SessionError(
                "Le stock national ne peut être inférieur à ce que les commandes ont déjà réservé : rechargez la page."
            ) from exc
        existing = {(r.effector_type_id, r.injection_rank): r for r in offer.cap_rules.all()}
        for key, rule in existing.items():
            if key not in entry.cells:
                rule.delete()
        to_create = []
        for (type_id, rank), cell in entry.cells.items():
            rule = existing.get((type_id, rank))
            if rule is None:
                to_create.append(
                    CapRule(
                        offer=offer, effector_type_id=type_id, injection_rank=rank, mode=cell.mode, limit=cell.limit
                    )
                )
            elif (rule.mode, rule.limit) != (cell.mode, cell.limit):
                CapRule.objects.filter(pk=rule.pk).update(mode=cell.mode, limit=cell.limit)
        CapRule.objects.bulk_create(to_create)


def rules_from_previous(*, session: OrderSession) -> tuple[OrderSession, SessionRules]:
    """The rules of the previous session, to prefill the rules page (nothing is saved until "Enregistrer")."""
    previous = session_previous(session=session)
    if previous is None:
        raise SessionError(MESSAGES["no_previous_session"])
    return previous, session_rules(session=previous)
