"""Evaluating parsed expressions against items (AWS's documented semantics).

Conditions: ``=``/``<>`` compare any two values (different types are unequal);
``<``, ``<=``, ``>``, ``>=`` and BETWEEN order numbers, strings (by UTF-8 bytes) and
binary of the same type and are false otherwise; a missing attribute makes every
comparison false except ``<>``. Updates work on a copy of the item and raise AWS's
"Invalid UpdateExpression: ..." errors; projections keep the nested structure of the
paths they name.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from sandlot.services.dynamodb.errors import validation
from sandlot.services.dynamodb.expressions.syntax import (
    And,
    Arith,
    Between,
    Call,
    Compare,
    In,
    Not,
    Or,
    Path,
    Update,
    Value,
)
from sandlot.services.dynamodb.values import SETS, arithmetic, number_text

_TYPE_NAMES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "SS": "SS", "NS": "NS",
               "BS": "BS", "M": "MAP", "L": "LIST", "NULL": "NULL", "BOOL": "BOOLEAN"}  # fmt: skip


def resolve(item: dict, path: Path) -> dict | None:
    """The value at ``path`` in ``item``, or None when absent."""
    current: dict | None = None
    for i, element in enumerate(path.elements):
        if i == 0:
            current = item.get(element)
        elif isinstance(element, int):
            if current is None or "L" not in current or element >= len(current["L"]):
                return None
            current = current["L"][element]
        else:
            if current is None or "M" not in current:
                return None
            current = current["M"].get(element)
        if current is None:
            return None
    return current


def _kind(value: dict) -> str:
    return next(iter(value))


def _inner(value: dict):
    return next(iter(value.values()))


def _operand(item: dict, node) -> dict | None:
    if isinstance(node, Value):
        return node.value
    if isinstance(node, Path):
        return resolve(item, node)
    if isinstance(node, Call) and node.name == "size":
        target = resolve(item, node.args[0])
        size = _size(target) if target is not None else None
        return {"N": str(size)} if size is not None else None
    raise AssertionError(node)


def _size(value: dict) -> int | None:
    kind, inner = _kind(value), _inner(value)
    if kind == "S":
        return len(inner)  # characters, as AWS counts a string's size
    if kind == "B":
        return len(inner)
    if kind in ("SS", "NS", "BS", "L", "M"):
        return len(inner)
    return None


def equal(a: dict, b: dict) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    x, y = _inner(a), _inner(b)
    if ka == "N":
        return Decimal(x) == Decimal(y)
    if ka == "NS":
        return {Decimal(n) for n in x} == {Decimal(n) for n in y}
    if ka in ("SS", "BS"):
        return set(x) == set(y)
    if ka == "L":
        return len(x) == len(y) and all(equal(p, q) for p, q in zip(x, y, strict=True))
    if ka == "M":
        return x.keys() == y.keys() and all(equal(x[k], y[k]) for k in x)
    return x == y


def _orderable(value: dict):
    kind = _kind(value)
    if kind == "N":
        return kind, Decimal(value["N"])
    if kind == "S":
        return kind, value["S"].encode()
    if kind == "B":
        return kind, bytes(value["B"])
    return None


def order(op: str, a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return False
    x, y = _orderable(a), _orderable(b)
    if x is None or y is None or x[0] != y[0]:
        return False
    x, y = x[1], y[1]
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def check_between_bounds(kind: str, low: dict, high: dict) -> None:
    """AWS refuses BETWEEN with constant bounds in the wrong order."""
    x, y = _orderable(low), _orderable(high)
    if x is not None and y is not None and x[0] == y[0] and x[1] > y[1]:
        raise validation(
            f"Invalid {kind}: The BETWEEN operator requires upper bound to be greater than or "
            f"equal to lower bound; lower bound operand: AttributeValue: {{{x[0]}:"
            f"{_inner(low)}}}, upper bound operand: AttributeValue: {{{y[0]}:{_inner(high)}}}"
        )


def matches(item: dict, node) -> bool:
    """Whether ``item`` satisfies the condition tree ``node``."""
    if isinstance(node, And):
        return matches(item, node.left) and matches(item, node.right)
    if isinstance(node, Or):
        return matches(item, node.left) or matches(item, node.right)
    if isinstance(node, Not):
        return not matches(item, node.operand)
    if isinstance(node, Compare):
        a, b = _operand(item, node.left), _operand(item, node.right)
        if node.op == "=":
            return a is not None and b is not None and equal(a, b)
        if node.op == "<>":
            return a is None or b is None or not equal(a, b)
        return order(node.op, a, b)
    if isinstance(node, Between):
        x = _operand(item, node.subject)
        low, high = _operand(item, node.low), _operand(item, node.high)
        return order(">=", x, low) and order("<=", x, high)
    if isinstance(node, In):
        x = _operand(item, node.subject)
        return x is not None and any(
            (o := _operand(item, option)) is not None and equal(x, o) for option in node.options
        )
    if isinstance(node, Call):
        return _function(item, node)
    raise AssertionError(node)


def _function(item: dict, call: Call) -> bool:
    target = resolve(item, call.args[0])
    if call.name == "attribute_exists":
        return target is not None
    if call.name == "attribute_not_exists":
        return target is None
    if target is None:
        return False
    operand = _operand(item, call.args[1])
    if operand is None:
        return False
    if call.name == "attribute_type":
        return operand.get("S") == _kind(target)
    kind, inner = _kind(target), _inner(target)
    if call.name == "begins_with":
        if kind == "S" and "S" in operand:
            return inner.startswith(operand["S"])
        if kind == "B" and "B" in operand:
            return bytes(inner).startswith(bytes(operand["B"]))
        return False
    # contains: a substring of a string, a member of a set, an element of a list.
    if kind == "S" and "S" in operand:
        return operand["S"] in inner
    if kind == "B" and "B" in operand:
        return bytes(operand["B"]) in bytes(inner)
    if kind in SETS:
        element = SETS[kind]
        return element in operand and any(equal({element: m}, operand) for m in inner)
    if kind == "L":
        return any(equal(m, operand) for m in inner)
    return False


# -- updates -------------------------------------------------------------------------------


def _update_error(detail: str):
    return validation(f"Invalid UpdateExpression: {detail}")


def _type_error(operator: str, value: dict):
    return _update_error(
        "Incorrect operand type for operator or function; operator or function: "
        f"{operator}, operand type: {_kind(value)}"
    )


def _term(item: dict, node) -> dict:
    """A SET value computed from the item as it was before the update."""
    if isinstance(node, Arith):
        a, b = _term(item, node.left), _term(item, node.right)
        for v in (a, b):
            if _kind(v) != "N":
                raise _type_error(node.op, v)
        return {"N": number_text(arithmetic(node.op, Decimal(a["N"]), Decimal(b["N"])))}
    if isinstance(node, Call) and node.name == "if_not_exists":
        found = resolve(item, node.args[0])
        return found if found is not None else _term(item, node.args[1])
    if isinstance(node, Call) and node.name == "list_append":
        a, b = _term(item, node.args[0]), _term(item, node.args[1])
        for v in (a, b):
            if _kind(v) != "L":
                raise _type_error("list_append", v)
        return {"L": a["L"] + b["L"]}
    value = _operand(item, node)
    if value is None:
        raise _update_error(
            "The provided expression refers to an attribute that does not exist in the item"
        )
    return value


def _parent(item: dict, path: Path, *, create: bool = False):
    """The container (dict of attributes/map members, or a list) holding the last
    element of ``path``; None when it does not exist."""
    container: object = item
    for element in path.elements[:-1]:
        if isinstance(container, dict):
            value = container.get(element) if isinstance(element, str) else None
        elif isinstance(container, list) and isinstance(element, int):
            value = container[element] if element < len(container) else None
        else:
            return None
        if value is None:
            return None
        kind = _kind(value)
        if kind not in ("M", "L"):
            return None
        container = value[kind]
    last = path.elements[-1]
    if isinstance(last, int) != isinstance(container, list):
        return None
    return container


def _set(item: dict, path: Path, value: dict) -> None:
    container = _parent(item, path)
    if container is None:
        raise _update_error(
            "The document path provided in the update expression is invalid for update"
        )
    last = path.elements[-1]
    if isinstance(container, list):
        if last < len(container):
            container[last] = value
        else:
            container.append(value)  # past the end: appended, as AWS does
    else:
        container[last] = value


def _remove(item: dict, path: Path) -> None:
    container = _parent(item, path)
    last = path.elements[-1]
    if isinstance(container, list):
        if last < len(container):
            del container[last]
    elif isinstance(container, dict):
        container.pop(last, None)


def apply_update(item: dict, update: Update) -> dict:
    """The item after ``update``: values are computed from the item before it; then
    SET, REMOVE (list elements from the highest index, so indexes name the original
    positions), ADD and DELETE."""
    new = copy.deepcopy(item)
    computed = [(path, _term(item, value)) for path, value in update.sets]
    for path, value in computed:
        _set(new, path, copy.deepcopy(value))
    for path in sorted(update.removes, key=lambda p: p.elements[-1] if isinstance(
            p.elements[-1], int) else -1, reverse=True):  # fmt: skip
        _remove(new, path)
    for path, operand in update.adds:
        _add(new, path, operand.value)
    for path, operand in update.deletes:
        _delete(new, path, operand.value)
    return new


def _add(item: dict, path: Path, operand: dict) -> None:
    kind = _kind(operand)
    if kind != "N" and kind not in SETS:
        raise _update_error(
            "Incorrect operand type for operator or function; operator: ADD, operand type: "
            f"{_TYPE_NAMES[kind]}"
        )
    current = resolve(item, path)
    if current is None:
        _set(item, path, copy.deepcopy(operand))
        return
    if _kind(current) != kind:
        raise validation("An operand in the update expression has an incorrect data type")
    if kind == "N":
        total = arithmetic("+", Decimal(current["N"]), Decimal(operand["N"]))
        _set(item, path, {"N": number_text(total)})
        return
    _set(item, path, {kind: _union(kind, current[kind], operand[kind])})


def _delete(item: dict, path: Path, operand: dict) -> None:
    kind = _kind(operand)
    if kind not in SETS:
        raise _update_error(
            "Incorrect operand type for operator or function; operator: DELETE, operand "
            f"type: {_TYPE_NAMES[kind]}"
        )
    current = resolve(item, path)
    if current is None:
        return
    if _kind(current) != kind:
        raise validation("An operand in the update expression has an incorrect data type")
    element = SETS[kind]
    remaining = [
        m
        for m in current[kind]
        if not any(equal({element: m}, {element: d}) for d in operand[kind])
    ]
    if remaining:
        _set(item, path, {kind: remaining})
    else:
        _remove(item, path)  # a set may not be empty: the attribute goes


def _union(kind: str, current: list, more: list) -> list:
    element = SETS[kind]
    out = list(current)
    for m in more:
        if not any(equal({element: m}, {element: o}) for o in out):
            out.append(m)
    return out


# -- projections ---------------------------------------------------------------------------


def project(item: dict, paths) -> dict:
    """The parts of ``item`` the paths name, nested as in the item; list elements keep
    their order and close up (AWS returns ``a[2], a[0]`` as a two-element list)."""
    out: dict = {}
    for path in paths:
        value = resolve(item, path)
        if value is None:
            continue
        _graft(out, item, path.elements, value)
    return _compact(out)


def _graft(out: dict, item: dict, elements: tuple, value: dict) -> None:
    """Copy ``value`` into ``out`` at ``elements``, creating the maps and lists on the
    way; a partial list is a dict keyed by index until ``_compact`` closes it up."""
    target: dict = out
    source: dict = item
    for element in elements[:-1]:
        found = source[element]
        kind = _kind(found)
        target = target.setdefault(element, {kind: {}})[kind]
        source = found["M"] if kind == "M" else dict(enumerate(found["L"]))
    target[elements[-1]] = copy.deepcopy(value)


def _compact(node: dict) -> dict:
    out = {}
    for key, value in node.items():
        kind = _kind(value)
        inner = value[kind]
        if kind == "L" and isinstance(inner, dict):  # an index-keyed partial list
            out[key] = {"L": [_compact_value(inner[i]) for i in sorted(inner)]}
        elif kind == "M" and isinstance(inner, dict):
            out[key] = {"M": _compact(inner)}
        else:
            out[key] = value
    return out


def _compact_value(value: dict) -> dict:
    return next(iter(_compact({0: value}).values()))
