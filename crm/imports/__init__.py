"""Spreadsheets in: read a file (reader), find each sheet's header row and template (recognise,
with the registry in templates), pull the data rows out (extract), clean every cell (cleaning,
validation), link rows to customers (linking), write everything in one transaction (pipeline),
keep what each batch changed so it can be undone (batches); rejected rows back as a workbook
(rejects), blank templates out (blank_templates), and the import page's preview (preview)."""
