"""Query execution: snapshots of a collection and the filter-aware planner."""
