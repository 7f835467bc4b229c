"""DynamoDB's PartiQL subset, translated into the native requests it means.

A statement becomes the parameters of GetItem/Query/Scan (SELECT), PutItem with an
``attribute_not_exists`` condition (INSERT), UpdateItem (UPDATE) or DeleteItem
(DELETE), with expression strings and ``#n``/``:v`` placeholders, so PartiQL shares
every rule of the expression engine and the write path. Supported (AWS's "PartiQL
select/insert/update/delete statements for DynamoDB"):

    SELECT * | path, ... FROM "table"["index"] [WHERE condition]
    INSERT INTO "table" VALUE {'attr': literal, ...}
    UPDATE "table" SET path = value [, ...] [REMOVE path, ...] WHERE key = ... [AND ...]
    DELETE FROM "table" WHERE key = ... [AND ...]

Conditions: = <> < <= > >=, BETWEEN, IN [...], IS [NOT] MISSING, AND/OR/NOT, and the
functions begins_with, contains, attribute_type, size; literals: 'strings', numbers,
TRUE/FALSE, NULL, [lists], {maps}, <<sets>>, and ``?`` parameters. Values in SET may
add or subtract, and use list_append, set_add, set_delete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandlot.services.dynamodb.errors import validation
from sandlot.services.dynamodb.storage import TableInfo
from sandlot.services.dynamodb.values import validate_value

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<quoted>\"(?:[^\"]|\"\")*\")"
    r"|(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><<|>>|<>|!=|<=|>=|[=<>(),.\[\]{}:?*+\-]))"
)
_FUNCTIONS = {"begins_with", "contains", "attribute_type", "size"}


def malformed(detail: str):
    return validation(f"Statement wasn't well formed, can't be processed: {detail}")


@dataclass
class Plan:
    """The native operation a statement means and its parameters."""

    operation: str  # GetItem, Query, Scan, PutItem, UpdateItem, DeleteItem
    params: dict
    table: str = ""


@dataclass
class _Names:
    names: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    by_name: dict = field(default_factory=dict)

    def name(self, text: str) -> str:
        if text not in self.by_name:
            self.by_name[text] = f"#n{len(self.by_name)}"
            self.names[self.by_name[text]] = text
        return self.by_name[text]

    def value(self, value: dict) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = value
        return key


class _Parser:
    def __init__(self, text: str, parameters: list) -> None:
        self.text = text
        self.tokens = []
        pos = 0
        while True:
            pos = re.compile(r"\s*").match(text, pos).end()
            if pos >= len(text):
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise malformed(f"unexpected character {text[pos]!r}")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.tokens.append(("eof", ""))
        self.i = 0
        self.parameters = list(parameters or [])
        self.used_parameters = 0
        self.ph = _Names()

    # -- tokens --------------------------------------------------------------------------

    @property
    def tok(self):
        return self.tokens[self.i]

    def word(self, *words: str) -> bool:
        return self.tok[0] == "word" and self.tok[1].upper() in {w.upper() for w in words}

    def op(self, *ops: str) -> bool:
        return self.tok[0] == "op" and self.tok[1] in ops

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_word(self, word: str) -> None:
        if not self.word(word):
            raise malformed(f"expected {word}, found {self.tok[1] or 'end of statement'}")
        self.i += 1

    def expect_op(self, op: str) -> None:
        if not self.op(op):
            raise malformed(f"expected {op}, found {self.tok[1] or 'end of statement'}")
        self.i += 1

    def identifier(self) -> str:
        kind, text = self.take()
        if kind == "quoted":
            return text[1:-1].replace('""', '"')
        if kind == "word":
            return text
        raise malformed(f"expected a name, found {text or 'end of statement'}")

    # -- literals ------------------------------------------------------------------------

    def literal(self) -> dict:
        kind, text = self.tok
        if self.op("?"):
            self.i += 1
            if self.used_parameters >= len(self.parameters):
                raise validation("Number of parameters in request and statement don't match.")
            value = self.parameters[self.used_parameters]
            self.used_parameters += 1
            return validate_value(value)
        if kind == "string":
            self.i += 1
            return {"S": text[1:-1].replace("''", "'")}
        if kind == "number":
            self.i += 1
            return validate_value({"N": text})
        if self.word("TRUE", "FALSE"):
            self.i += 1
            return {"BOOL": text.upper() == "TRUE"}
        if self.word("NULL"):
            self.i += 1
            return {"NULL": True}
        if self.op("["):
            self.i += 1
            items = self._sequence("]")
            return {"L": items}
        if self.op("<<"):
            self.i += 1
            members = self._sequence(">>")
            kinds = {next(iter(m)) for m in members}
            if len(kinds) != 1 or not kinds <= {"S", "N", "B"}:
                raise malformed("a set holds strings, numbers or binary of one type")
            kind = kinds.pop()
            return validate_value({kind + "S": [m[kind] for m in members]})
        if self.op("{"):
            self.i += 1
            out = {}
            while not self.op("}"):
                key = self.take()
                if key[0] != "string":
                    raise malformed("map keys are 'quoted strings'")
                self.expect_op(":")
                out[key[1][1:-1].replace("''", "'")] = self.literal()
                if not self.op("}"):
                    self.expect_op(",")
            self.i += 1
            return {"M": out}
        raise malformed(f"expected a value, found {text or 'end of statement'}")

    def _sequence(self, end: str) -> list:
        items = []
        while not self.op(end):
            items.append(self.literal())
            if not self.op(end):
                self.expect_op(",")
        self.i += 1
        return items

    def is_literal(self) -> bool:
        kind = self.tok[0]
        return (
            kind in ("string", "number")
            or self.op("?", "[", "<<", "{")
            or self.word("TRUE", "FALSE", "NULL")
        )

    # -- paths and operands (rendered as expression text) --------------------------------

    def path(self) -> tuple[str, str]:
        """(expression text, the top-level attribute name)."""
        top = self.identifier()
        parts = [self.ph.name(top)]
        while self.op(".", "["):
            if self.take()[1] == ".":
                parts.append("." + self.ph.name(self.identifier()))
            else:
                kind, text = self.take()
                if kind != "number" or not text.isdigit():
                    raise malformed("list indexes are whole numbers")
                parts.append(f"[{text}]")
                self.expect_op("]")
        return "".join(parts), top

    def operand(self) -> str:
        if self.is_literal():
            return self.ph.value(self.literal())
        if self.word("size") and self.tokens[self.i + 1] == ("op", "("):
            self.i += 2
            text, _ = self.path()
            self.expect_op(")")
            return f"size({text})"
        return self.path()[0]

    # -- conditions ----------------------------------------------------------------------

    def condition(self) -> list:
        """The top-level AND-ed conjuncts, each (expression text, the attribute it
        constrains or None, its right-hand placeholder(s), kind) so key conditions can
        be told apart from the rest. AND binds tighter than OR."""
        groups = [self._conjuncts()]
        while self.word("OR"):
            self.i += 1
            groups.append(self._conjuncts())
        if len(groups) == 1:
            return groups[0]
        text = " OR ".join("(" + " AND ".join(c[0] for c in g) + ")" for g in groups)
        return [(text, None, None, "other")]

    def _conjuncts(self) -> list:
        out = [self._not()]
        while self.word("AND"):
            self.i += 1
            out.append(self._not())
        return out

    def _not(self):
        if self.word("NOT"):
            self.i += 1
            return (f"NOT ({self._not()[0]})", None, None, "other")
        return self._primary()

    def _primary(self):
        if self.op("("):
            self.i += 1
            inner = " AND ".join(c[0] for c in self.condition())
            self.expect_op(")")
            return (f"({inner})", None, None, "other")
        if self.tok[0] == "word" and self.tok[1].lower() in _FUNCTIONS - {"size"}:
            name = self.take()[1].lower()
            self.expect_op("(")
            text, top = self.path()
            args = [text]
            while self.op(","):
                self.i += 1
                args.append(self.operand())
            self.expect_op(")")
            kind = "begins_with" if name == "begins_with" else "other"
            return (f"{name}({', '.join(args)})", top, args[1] if len(args) > 1 else None, kind)
        left_is_path = not self.is_literal() and not self.word("size")
        start = self.i
        left = self.operand()
        top = self.tokens[start][1].strip('"') if left_is_path else None
        if self.op("=", "<>", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            op = "<>" if op == "!=" else op
            right = self.operand()
            return (f"{left} {op} {right}", top, right, op)
        if self.word("BETWEEN"):
            self.i += 1
            low = self.operand()
            self.expect_word("AND")
            high = self.operand()
            return (f"{left} BETWEEN {low} AND {high}", top, (low, high), "between")
        if self.word("IN"):
            self.i += 1
            self.expect_op("[")
            options = [self.operand()]
            while self.op(","):
                self.i += 1
                options.append(self.operand())
            self.expect_op("]")
            return (f"{left} IN ({', '.join(options)})", top, None, "other")
        if self.word("IS"):
            self.i += 1
            negated = self.word("NOT")
            if negated:
                self.i += 1
            self.expect_word("MISSING")
            function = "attribute_exists" if negated else "attribute_not_exists"
            return (f"{function}({left})", top, None, "other")
        raise malformed(f"unexpected {self.tok[1] or 'end of statement'}")

    # -- statements ----------------------------------------------------------------------

    def table_and_index(self) -> tuple[str, str | None]:
        table = self.identifier()
        index = None
        if self.op("."):
            self.i += 1
            index = self.identifier()
        return table, index

    def done(self) -> None:
        if self.tok[0] != "eof":
            raise malformed(f"unexpected {self.tok[1]}")
        if self.used_parameters != len(self.parameters):
            raise validation("Number of parameters in request and statement don't match.")

    def placeholders(self, params: dict) -> dict:
        """``params`` with the placeholders its expressions use (key equalities moved
        into ``Key`` leave theirs unused)."""
        texts = " ".join(v for k, v in params.items() if k.endswith("Expression"))
        used = set(re.findall(r"[#:][nv]\d+", texts))
        names = {k: v for k, v in self.ph.names.items() if k in used}
        values = {k: v for k, v in self.ph.values.items() if k in used}
        if names:
            params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = values
        return params


def _literal_of(parser: _Parser, placeholder) -> dict | None:
    if isinstance(placeholder, str) and placeholder in parser.ph.values:
        return parser.ph.values[placeholder]
    return None


def _split_key(parser: _Parser, info: TableInfo, conjuncts: list) -> tuple[dict, list]:
    """The full primary key from ``key = literal`` conjuncts, and the other conjuncts."""
    key, rest = {}, []
    for text, top, right, kind in conjuncts:
        value = _literal_of(parser, right) if kind == "=" else None
        if top in info.key.names and value is not None and top not in key:
            key[top] = value
        else:
            rest.append(text)
    if set(key) != set(info.key.names):
        raise validation("Where clause does not contain a mandatory equality on all key attributes")
    return key, rest


def plan(text: str, parameters: list | None, table_of) -> Plan:
    """The native request ``text`` means; ``table_of(name)`` is the TableInfo of a table
    (or raises ResourceNotFoundException)."""
    p = _Parser(text, parameters or [])
    if p.word("SELECT"):
        return _select(p, table_of)
    if p.word("INSERT"):
        p.i += 1
        p.expect_word("INTO")
        table = p.identifier()
        p.expect_word("VALUE")
        item = p.literal()
        if "M" not in item:
            raise malformed("INSERT needs a VALUE {...}")
        p.done()
        info = table_of(table)
        params = {
            "TableName": table,
            "Item": item["M"],
            "ConditionExpression": f"attribute_not_exists({p.ph.name(info.key.hash_name)})",
        }
        return Plan("PutItem", p.placeholders(params), table)
    if p.word("UPDATE"):
        return _update(p, table_of)
    if p.word("DELETE"):
        p.i += 1
        p.expect_word("FROM")
        table = p.identifier()
        p.expect_word("WHERE")
        conjuncts = p.condition()
        p.done()
        info = table_of(table)
        key, rest = _split_key(p, info, conjuncts)
        params = {"TableName": table, "Key": key}
        if rest:
            params["ConditionExpression"] = " AND ".join(rest)
        return Plan("DeleteItem", p.placeholders(params), table)
    raise malformed("a statement starts with SELECT, INSERT, UPDATE or DELETE")


def _select(p: _Parser, table_of) -> Plan:
    p.i += 1
    projection = None
    if p.op("*"):
        p.i += 1
    else:
        paths = [p.path()[0]]
        while p.op(","):
            p.i += 1
            paths.append(p.path()[0])
        projection = ", ".join(paths)
    p.expect_word("FROM")
    table, index = p.table_and_index()
    conjuncts = []
    if p.word("WHERE"):
        p.i += 1
        conjuncts = p.condition()
    p.done()
    info = table_of(table)
    shape = info.indexes[index].key if index and index in info.indexes else info.key
    params: dict = {"TableName": table}
    if index is None:  # the whole primary key and nothing else: a GetItem
        key = {c[1]: _literal_of(p, c[2]) for c in conjuncts if c[3] == "="}
        if (
            len(conjuncts) == len(info.key.names)
            and set(key) == set(info.key.names)
            and all(v is not None for v in key.values())
        ):
            params["Key"] = key
            if projection:
                params["ProjectionExpression"] = projection
            return Plan("GetItem", p.placeholders(params), table)
    if index:
        params["IndexName"] = index
    if projection:
        params["ProjectionExpression"] = projection
    hash_part = next(
        (c for c in conjuncts if c[3] == "=" and c[1] == shape.hash_name
         and _literal_of(p, c[2]) is not None),
        None,
    )  # fmt: skip
    if hash_part is None:
        if conjuncts:
            params["FilterExpression"] = " AND ".join(c[0] for c in conjuncts)
        return Plan("Scan", p.placeholders(params), table)
    rest = [c for c in conjuncts if c is not hash_part]
    keys = [hash_part[0]]
    range_part = next(
        (c for c in rest if c[1] == shape.range_name and shape.range_name
         and c[3] in ("=", "<", "<=", ">", ">=", "between", "begins_with")),
        None,
    )  # fmt: skip
    if range_part is not None:
        keys.append(range_part[0])
        rest = [c for c in rest if c is not range_part]
    params["KeyConditionExpression"] = " AND ".join(keys)
    if rest:
        params["FilterExpression"] = " AND ".join(c[0] for c in rest)
    return Plan("Query", p.placeholders(params), table)


def _update(p: _Parser, table_of) -> Plan:
    p.i += 1
    table = p.identifier()
    sets, removes, adds, deletes = [], [], [], []
    while p.word("SET", "REMOVE"):
        clause = p.take()[1].upper()
        while True:
            if clause == "REMOVE":
                removes.append(p.path()[0])
            else:
                target = p.path()[0]
                p.expect_op("=")
                if p.word("set_add", "set_delete") and p.tokens[p.i + 1] == ("op", "("):
                    function = p.take()[1].lower()
                    p.expect_op("(")
                    p.path()
                    p.expect_op(",")
                    value = p.ph.value(p.literal())
                    p.expect_op(")")
                    (adds if function == "set_add" else deletes).append(f"{target} {value}")
                else:
                    sets.append(f"{target} = {_set_value(p)}")
            if not p.op(","):
                break
            p.i += 1
    if not (sets or removes or adds or deletes):
        raise malformed("UPDATE needs SET or REMOVE")
    p.expect_word("WHERE")
    conjuncts = p.condition()
    if p.word("RETURNING"):
        raise validation("RETURNING is not supported by sandlot's PartiQL yet")
    p.done()
    info = table_of(table)
    key, rest = _split_key(p, info, conjuncts)
    clauses = []
    for word, parts in (("SET", sets), ("REMOVE", removes), ("ADD", adds), ("DELETE", deletes)):
        if parts:
            clauses.append(f"{word} {', '.join(parts)}")
    # PartiQL's UPDATE changes an existing item only.
    exists = [f"attribute_exists({p.ph.name(info.key.hash_name)})"]
    params = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": " ".join(clauses),
        "ConditionExpression": " AND ".join(exists + rest),
    }
    return Plan("UpdateItem", p.placeholders(params), table)


def _set_value(p: _Parser) -> str:
    def term() -> str:
        if p.word("list_append") and p.tokens[p.i + 1] == ("op", "("):
            p.i += 2
            first = term()
            p.expect_op(",")
            second = term()
            p.expect_op(")")
            return f"list_append({first}, {second})"
        return p.operand()

    value = term()
    if p.op("+", "-"):
        op = p.take()[1]
        value = f"{value} {op} {term()}"
    return value
