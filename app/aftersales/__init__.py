"""After-sales and operator tracking: tasks, assignment, response monitor, reports (PRODUCT.md §6, §7)."""
