"""A program that makes no pool: poolscope has nothing to size."""

print("sum", sum(range(10)))
