"""Interchange: REDCap, CDISC ODM 1.3.2 and SDTM in; CDISC ADaM (SAS XPORT v5, Dataset-JSON
1.1, define.xml 2.1) and a cards-style analysis results dataset out (docs/interchange.md)."""
