"""Reports: what a run measured and decided, for people (Markdown/HTML, Allure) and for CI (JUnit).

Report builders read results; they never drive a vehicle.
"""
