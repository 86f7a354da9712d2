"""How values of the column types are written, as regular expressions (RE2 and Python alike), and PostgreSQL's
numeric limits: plain text, so the type registry can name them without importing pyarrow."""

INTEGER_TEXT = r"^[+-]?\d+(\.0*)?$"
FLOAT_TEXT = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$"
DECIMAL_TEXT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
"""A decimal in any accepted spelling (trimmed)."""
YEARS_OUTSIDE = r"^(\d{5,}|0000)\D"
SHIFTED_OUTSIDE = r"^9999-12-31[T ].*-\d{2}(:?\d{2})?$|^0001-01-01[T ].*\+\d{2}(:?\d{2})?$"
"""A timestamp its zone carries outside the years in UTC."""

MAX_DIGITS_BEFORE_POINT = 131_072
MAX_DIGITS_AFTER_POINT = 16_383
"""PostgreSQL's `numeric` limits; beyond them it refuses the value ("value overflows numeric format")."""
