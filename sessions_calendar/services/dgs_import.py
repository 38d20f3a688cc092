"""Importing the rules of a session from a CSV table shaped like the DGS-Urgent tables (seeds 002, 003).

Effector types in rows, products in columns; a product ordered by injection rank has one column per rank
("AstraZeneca 1ère injection", or a second header row with the ranks under a merged product cell). Cells
speak the notes' language: "Non ouvert à la commande", "Nombre de flacons non limité", "Jusqu'à 5 flacons
par médecin", "Jusqu'à 5 flacons par officine", "Une boîte de 10 flacons par médecin du travail". Optional
rows "Stock national" and "Boîtes de" give the per-product figures.

Always a dry run first (what would change); the confirmation re-reads the same file and refuses if the
rules changed meanwhile. A malformed file is refused with every problem listed, and nothing is written.
django-import-export is row-to-model and does not fit a pivoted table, hence this small parser.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from effectors.models import EffectorType
from vaccine_orders.audit.actors import Actor
from vaccine_orders.orders.models import Product

from ..errors import SessionError
from ..models import OrderSession
from ..rules import Cell, Mode, ProductRules, RuleChange, SessionRules
from ..selectors import session_rules
from .rules import (
    RulesSaveResult,
    rules_diff,
    rules_editable_check,
    rules_fingerprint,
    rules_validate,
    session_rules_save,
)

MAX_BYTES = 200_000
MAX_ERRORS = 30

FORMAT_HELP = (
    "Formats de cellule acceptés : « Non ouvert à la commande », « Nombre de flacons non limité », "
    "« Jusqu'à 5 flacons par médecin » (par effecteur), « Jusqu'à 5 flacons par officine », "
    "« Une boîte de 10 flacons par médecin du travail », ou une cellule vide (pas de règle)."
)

# Words of the DGS tables that name a type differently from our labels.
TYPE_ALIASES = {
    "ide": "nurse",
    "infirmier": "nurse",
    "infirmiere": "nurse",
    "pharmacien": "pharmacist",
    "officine": "pharmacist",
    "medecin generaliste": "doctor",
    "medecin du travail": "occupational_doctor",
    "sage-femme": "midwife",
    "chirurgien-dentiste": "dental_surgeon",
    "residence autonomie": "residence_autonomie",
}


def _plain(text: str) -> str:
    """Lowercase, no accents, straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("–", "-").replace("—", "-").replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip().lower()


def _canon(text: str) -> str:
    """`_plain` with each word put in the singular, so "Sages-femmes" and "sage-femme" meet."""
    words = []
    for word in _plain(text).split(" "):
        parts = [p[:-1] if len(p) > 3 and p[-1] in "sx" else p for p in word.split("-")]
        words.append("-".join(parts))
    return " ".join(words)


@dataclass
class ParsedTable:
    rules: SessionRules = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class DgsPreview:
    rules: SessionRules  # the whole session after import
    changes: list[RuleChange]
    fingerprint: str  # of the rules before import, to detect a stale confirmation
    notes: list[str]


def _decode(content: bytes) -> str:
    if len(content) > MAX_BYTES:
        raise SessionError(
            f"Le fichier est trop volumineux ({len(content) // 1000} ko) : un tableau DGS tient en quelques ko."
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SessionError(
        "Le fichier n'est pas un texte lisible : enregistrez le tableau au format CSV (UTF-8)."
    )  # pragma: no cover


def _rows(text: str) -> list[list[str]]:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t", key=first_line.count)
    if first_line.count(delimiter) == 0:
        raise SessionError(
            "Le fichier n'a qu'une colonne : attendu un tableau CSV séparé par des points-virgules, des virgules "
            "ou des tabulations (types d'effecteurs en lignes, produits en colonnes)."
        )
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise SessionError(f"Le fichier CSV est mal formé : {exc}.") from exc
    return [[cell.strip() for cell in row] for row in rows if any(cell.strip() for cell in row)]


RANK_PATTERNS = [
    (1, re.compile(r"\(?\s*\b(?:1|1re|1ere|1er|premiere)\s*injection\b\s*\)?")),
    (2, re.compile(r"\(?\s*\b(?:2|2e|2eme|2nde|2nd|seconde|second|deuxieme)\s*injection\b\s*\)?")),
    (1, re.compile(r"\(?\s*\brang\s*1\b\s*\)?")),
    (2, re.compile(r"\(?\s*\brang\s*2\b\s*\)?")),
]


def _split_rank(header: str) -> tuple[str, int | None]:
    text = _plain(header)
    for rank, pattern in RANK_PATTERNS:
        if pattern.search(text):
            return pattern.sub(" ", text).strip(" -–/"), rank
    return text, None


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", _canon(text)) if t}


def _match_product(label: str, products: list[Product]) -> Product | str | None:
    """The product a column header names, None if none, "ambiguous" if several do equally well."""
    label = re.sub(r"^nombre de (?:flacons|boites|doses)(?: de vaccins?)?\s*", "", _plain(label)).strip()
    exact = [p for p in products if _plain(label) in {_plain(p.code), _plain(p.name), _plain(p.short_name)}]
    if len(exact) == 1:
        return exact[0]
    tokens = _tokens(label)
    scored = []
    for product in products:
        best = 0
        for candidate in (product.short_name, product.code, product.name):
            words = _tokens(candidate)
            if words and words <= tokens:
                best = max(best, len(words))
        if best:
            scored.append((best, product))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return "ambiguous"
    return scored[0][1]


def _type_index(types: list[EffectorType]) -> dict[str, EffectorType]:
    index: dict[str, EffectorType] = {}
    by_code = {t.code: t for t in types}
    for effector_type in types:
        for text in (effector_type.label, effector_type.label_plural, effector_type.code.replace("_", " ")):
            index.setdefault(_canon(text), effector_type)
            index.setdefault(_canon(re.sub(r"\(.*?\)", "", text)), effector_type)
            for inner in re.findall(r"\((.*?)\)", text):
                index.setdefault(_canon(inner), effector_type)
    for alias, code in TYPE_ALIASES.items():
        if code in by_code:
            index.setdefault(_canon(alias), by_code[code])
    return index


def _match_types(label: str, index: dict[str, EffectorType]) -> tuple[list[EffectorType], list[str]]:
    parts = [p for p in re.split(r",|;|/|\bet\b|\+", _plain(label)) if p.strip()]
    found, unknown = [], []
    for part in parts:
        effector_type = index.get(_canon(part)) or index.get(_canon(re.sub(r"\(.*?\)", "", part)))
        if effector_type is None:
            unknown.append(part.strip())
        elif effector_type not in found:
            found.append(effector_type)
    return found, unknown


def _number(text: str) -> int | None:
    digits = re.sub(r"[\s\xa0.]", "", text)
    return int(digits) if digits.isdigit() else None


def parse_cell(text: str) -> tuple[Cell | None, int | None]:
    """(rule, box size) of a cell; (None, None) for an empty cell. Raises ValueError when unreadable."""
    plain = _plain(text)
    if not plain or plain in {"-", "/"}:
        return None, None
    if re.search(r"non ouvert|\bferme\b|pas ouvert", plain):
        return Cell(Mode.CLOSED), None
    if re.search(r"non limite|illimite|sans limite|pas de limite", plain):
        return Cell(Mode.UNLIMITED), None
    per_pharmacy = bool(re.search(r"\bpar (?:officine|pharmacie)\b", plain))
    mode = Mode.PER_PHARMACY if per_pharmacy else Mode.PER_EFFECTOR
    box = re.search(r"\b(\d+|une?)\s+boites?\s+de\s+(\d+)", plain)
    if box:
        count = 1 if box.group(1) in {"un", "une"} else int(box.group(1))
        size = int(box.group(2))
        if count < 1 or size < 1:
            raise ValueError(text)
        return Cell(mode, count * size), size
    number = re.search(r"\b(\d+)\b", plain)
    if number and (re.search(r"jusqu|maximum|\bmax\b|\bpar\b|au plus", plain) or plain.isdigit()):
        limit = int(number.group(1))
        if limit < 1:
            raise ValueError(text)
        return Cell(mode, limit), None
    raise ValueError(text)


def parse_table(content: bytes, *, products: list[Product], types: list[EffectorType]) -> ParsedTable:
    """The rules a DGS-shaped CSV gives, for the products it has columns for. Raises SessionError listing
    every problem (line and column named) when the file cannot be read exactly."""
    rows = _rows(_decode(content))
    if len(rows) < 2:
        raise SessionError(
            "Le tableau est vide : attendu une ligne d'en-tête (produits) puis une ligne par type d'effecteur."
        )
    errors: list[str] = []
    header = rows[0]
    body_start = 1
    second = rows[1]
    rank_row = None
    if not _plain(second[0]) and any(_split_rank(c)[1] for c in second[1:] if c):
        rank_row = second
        body_start = 2

    # Columns: (product, rank) per column index.
    columns: dict[int, tuple[Product, int]] = {}
    seen_columns: dict[tuple[int, int], int] = {}
    current_label = ""
    width = max(len(header), len(rank_row or []))
    for index in range(1, width):
        raw = header[index] if index < len(header) else ""
        if raw:
            current_label = raw
        elif rank_row is None or not (index < len(rank_row) and rank_row[index]):
            continue  # an empty column, unless it is the next rank of a merged product cell
        label = raw or current_label
        if not label:
            continue
        product_label, rank = _split_rank(label)
        if rank_row is not None and index < len(rank_row) and rank_row[index]:
            _, rank = _split_rank(rank_row[index])
        product = _match_product(product_label, products)
        column_name = f"colonne {index + 1} (« {label} »)"
        if product is None:
            errors.append(f"{column_name} : produit inconnu au catalogue.")
            continue
        if product == "ambiguous":
            errors.append(f"{column_name} : plusieurs produits du catalogue correspondent ; précisez le nom.")
            continue
        if product.has_injection_rank and rank is None:
            errors.append(
                f"{column_name} : {product.short_name} se commande par rang d'injection ; "
                "indiquez « 1ère injection » ou « 2nde injection »."
            )
            continue
        if not product.has_injection_rank and rank is not None:
            errors.append(f"{column_name} : {product.short_name} ne se commande pas par rang d'injection.")
            continue
        rank = rank or 0
        if (product.pk, rank) in seen_columns:
            errors.append(
                f"{column_name} : {product.short_name} a déjà une colonne "
                f"(colonne {seen_columns[(product.pk, rank)] + 1})."
            )
            continue
        seen_columns[(product.pk, rank)] = index
        columns[index] = (product, rank)
    if not columns and not errors:
        errors.append("Aucune colonne de produit : la première ligne doit nommer les produits.")

    index = _type_index(types)
    parsed: dict[int, ProductRules] = {}
    box_sizes: dict[int, set[int]] = {}
    stocks: dict[int, set[int]] = {}
    type_rows: dict[int, int] = {}
    for line_number, row in enumerate(rows[body_start:], start=body_start + 1):
        label = row[0]
        plain_label = _plain(label)
        extra = [c for i, c in enumerate(row) if i >= width and c]
        if extra:
            errors.append(f"Ligne {line_number} : des cellules dépassent la dernière colonne de l'en-tête.")
        if plain_label.startswith("stock national") or re.match(
            r"^(?:taille de )?boites? de|^commande par boites", plain_label
        ):
            target = stocks if plain_label.startswith("stock") else box_sizes
            for col, (product, _rank) in columns.items():
                value = row[col] if col < len(row) else ""
                if not value:
                    continue
                number = _number(value)
                if number is None or number < 1:
                    errors.append(
                        f"Ligne {line_number}, {product.short_name} : « {value} » n'est pas un nombre entier positif."
                    )
                else:
                    target.setdefault(product.pk, set()).add(number)
            continue
        found, unknown = _match_types(label, index)
        if unknown or not found:
            errors.append(f"Ligne {line_number} : type d'effecteur inconnu dans « {label} ».")
            continue
        for effector_type in found:
            if effector_type.pk in type_rows:
                errors.append(
                    f"Ligne {line_number} : {effector_type.label_plural} apparaît déjà "
                    f"ligne {type_rows[effector_type.pk]}."
                )
            type_rows[effector_type.pk] = line_number
        for col, (product, rank) in columns.items():
            value = row[col] if col < len(row) else ""
            try:
                cell, box = parse_cell(value)
            except ValueError:
                errors.append(
                    f"Ligne {line_number} ({label}), {product.short_name}{' rang ' + str(rank) if rank else ''} : "
                    f"cellule non reconnue « {value} »."
                )
                continue
            if box:
                box_sizes.setdefault(product.pk, set()).add(box)
            entry = parsed.setdefault(product.pk, ProductRules(is_open=True))
            if cell is not None:
                for effector_type in found:
                    entry.cells[(effector_type.pk, rank)] = cell
    for product, _rank in columns.values():
        parsed.setdefault(product.pk, ProductRules(is_open=True))
    by_pk = {p.pk: p for p in products}
    notes = []
    for product_id, entry in parsed.items():
        name = by_pk[product_id].short_name
        if len(box_sizes.get(product_id, set())) > 1:
            errors.append(
                f"{name} : tailles de boîte contradictoires ({', '.join(map(str, sorted(box_sizes[product_id])))})."
            )
        if len(stocks.get(product_id, set())) > 1:
            errors.append(f"{name} : stocks nationaux contradictoires.")
        entry.box_size = min(box_sizes.get(product_id, {0})) or None
        entry.national_stock = min(stocks.get(product_id, {0})) or None
        if not any(cell.is_open for cell in entry.cells.values()):
            # A column with no open cell means the product is not offered this session.
            parsed[product_id] = ProductRules()
            notes.append(f"{name} : aucune cellule ouverte, le produit ne sera pas ouvert à la commande.")
    if errors:
        shown = errors[:MAX_ERRORS]
        if len(errors) > MAX_ERRORS:
            shown.append(f"… et {len(errors) - MAX_ERRORS} autre(s) problème(s).")
        raise SessionError(
            "Le fichier n'a pas été importé : rien n'a été modifié. " + FORMAT_HELP,
            errors=shown,
        )
    return ParsedTable(rules=parsed, notes=notes)


def _merged(session: OrderSession, parsed: ParsedTable, *, close_missing: bool) -> tuple[SessionRules, SessionRules]:
    current = session_rules(session=session)
    merged: SessionRules = dict(current)
    merged.update(parsed.rules)
    if close_missing:
        for product_id in current:
            if product_id not in parsed.rules:
                merged[product_id] = ProductRules()
    return current, merged


def dgs_import_preview(*, session: OrderSession, content: bytes, close_missing: bool = False) -> DgsPreview:
    """What importing `content` would change; writes nothing. Raises SessionError for a malformed file, a
    contradiction in the result, or a session whose rules can no longer change."""
    rules_editable_check(session=session)
    products = list(Product.objects.all())
    types = list(EffectorType.objects.all())
    parsed = parse_table(content, products=products, types=types)
    current, merged = _merged(session, parsed, close_missing=close_missing)
    stock_taken = dict(session.offers.values_list("product_id", "stock_taken"))
    rules_validate(
        rules=merged, products={p.pk: p for p in products}, types={t.pk: t for t in types}, stock_taken=stock_taken
    )
    return DgsPreview(
        rules=merged,
        changes=rules_diff(current, merged),
        fingerprint=rules_fingerprint(session=session),
        notes=parsed.notes,
    )


def dgs_import_apply(
    *, session: OrderSession, content: bytes, fingerprint: str, actor: Actor, close_missing: bool = False
) -> RulesSaveResult:
    """Apply the file previewed with `fingerprint` (refused if the rules changed since the preview)."""
    products = list(Product.objects.all())
    types = list(EffectorType.objects.all())
    parsed = parse_table(content, products=products, types=types)
    _current, merged = _merged(session, parsed, close_missing=close_missing)
    return session_rules_save(
        session=session, rules=merged, actor=actor, expected_fingerprint=fingerprint, source="import d'un tableau DGS"
    )
