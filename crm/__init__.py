"""客户档案 core: the archive, its import pipeline, rules and queries.

Plain typed Python over one DuckDB connection; nothing here imports Streamlit, so every
rule can be tested (and scripted from the command line) without a browser.
"""
