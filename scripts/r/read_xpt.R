#!/usr/bin/env Rscript
# Independent reader of myotrial's SAS XPORT v5 files: haven::read_xpt (Debian r-cran-haven).
#
#   apt-get install -y r-base-core r-cran-haven
#   Rscript scripts/r/read_xpt.R tests/fixtures/interchange/xpt tests/fixtures/interchange/r_read_xpt
#
# For every IN_DIR/<name>.xpt it writes OUT_DIR/<name>_meta.csv (dataset label, variable name,
# label, R type, SAS format) and OUT_DIR/<name>_values.csv (every value as text: dates
# YYYY-MM-DD, date-times YYYY-MM-DDTHH:MM:SS, numbers with 15 significant digits, missing = "").
# tests/test_interchange_xpt_r.py compares these with what pyreadstat and myotrial read.
suppressPackageStartupMessages(library(haven))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript read_xpt.R IN_DIR OUT_DIR")
in_dir <- args[[1]]
out_dir <- args[[2]]
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
attr_or_blank <- function(x, name) {
  value <- attr(x, name, exact = TRUE)
  if (is.null(value)) "" else as.character(value)
}
r_type <- function(x) {
  if (inherits(x, "Date")) "date"
  else if (inherits(x, "POSIXct")) "datetime"
  else if (is.numeric(x)) "numeric"
  else "character"
}
as_text <- function(x) {
  if (inherits(x, "Date")) {
    out <- format(x, "%Y-%m-%d")
  } else if (inherits(x, "POSIXct")) {
    out <- format(x, "%Y-%m-%dT%H:%M:%S", tz = "UTC")
  } else if (is.numeric(x)) {
    out <- formatC(x, digits = 15, format = "g")
    out <- trimws(out)
  } else {
    out <- as.character(x)
  }
  out[is.na(x)] <- ""
  out
}
for (path in sort(list.files(in_dir, pattern = "\\.xpt$", full.names = TRUE))) {
  d <- read_xpt(path)
  stem <- sub("\\.xpt$", "", basename(path))
  meta <- data.frame(
    dataset_label = attr_or_blank(d, "label"),
    name = names(d),
    label = vapply(d, attr_or_blank, "", name = "label"),
    type = vapply(d, r_type, ""),
    format = vapply(d, attr_or_blank, "", name = "format.sas"),
    stringsAsFactors = FALSE
  )
  values <- as.data.frame(lapply(d, as_text), stringsAsFactors = FALSE, check.names = FALSE)
  write.csv(meta, file.path(out_dir, paste0(stem, "_meta.csv")), row.names = FALSE, na = "")
  write.csv(values, file.path(out_dir, paste0(stem, "_values.csv")), row.names = FALSE, na = "")
}
