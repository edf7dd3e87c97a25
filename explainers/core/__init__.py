"""The machinery every method shares: the registry, explain(), the Explanation, the engine, budgets and costs."""
