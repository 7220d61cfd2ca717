"""What the pages share: the archive and the acting user of a browser session, the table and tile
widgets, messages, and the plotly figure builders. Streamlit lives here and in pages/, never in crm/."""
