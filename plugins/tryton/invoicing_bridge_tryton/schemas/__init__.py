"""Read schemas (Tryton rows → neutral model) and write dumps (neutral model → Tryton
values) of the ``tryton`` backend."""
