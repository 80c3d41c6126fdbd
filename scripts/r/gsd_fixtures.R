# Group-sequential boundaries and operating characteristics from rpact (the oracle of
# tests/test_gsd.py). Run from the repository root:
#
#   Rscript scripts/r/gsd_fixtures.R        # writes tests/fixtures/gsd_rpact.csv
#
# R >= 4.2 with rpact from Debian (apt-get install r-base-core r-cran-rpact). Every design is
# one-sided (sided = 1) with Lan-DeMets alpha spending: typeOfDesign "asOF" (O'Brien-Fleming
# type, alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t))) or "asP" (Pocock type,
# alpha(t) = alpha log(1 + (e - 1) t)); futility bounds (z scale) are NON-binding, so they do
# not change the efficacy boundaries. getDesignCharacteristics() gives the drift ("shift",
# the squared expected z at full information) that yields power 1 - beta = 0.8, and the
# stage-wise rejection and futility-stopping probabilities under that drift.
suppressPackageStartupMessages(library(rpact))

designs <- list(
  list(id = "of_k2", alpha = 0.025, rates = c(0.5, 1), type = "asOF", fut = NULL),
  list(id = "of_k3", alpha = 0.025, rates = c(0.4, 0.7, 1), type = "asOF", fut = NULL),
  list(id = "of_k4", alpha = 0.025, rates = c(0.25, 0.5, 0.75, 1), type = "asOF", fut = NULL),
  list(id = "of_k3_a05", alpha = 0.05, rates = c(0.3, 0.65, 1), type = "asOF", fut = NULL),
  list(id = "p_k2", alpha = 0.025, rates = c(0.5, 1), type = "asP", fut = NULL),
  list(id = "p_k3", alpha = 0.025, rates = c(0.4, 0.7, 1), type = "asP", fut = NULL),
  list(id = "p_k5", alpha = 0.025, rates = c(0.2, 0.4, 0.6, 0.8, 1), type = "asP", fut = NULL),
  list(id = "of_k3_fut", alpha = 0.025, rates = c(0.4, 0.7, 1), type = "asOF", fut = c(0, 0)),
  list(id = "p_k3_fut", alpha = 0.025, rates = c(0.3, 0.6, 1), type = "asP", fut = c(0.5, 1))
)

rows <- list()
for (d in designs) {
  k <- length(d$rates)
  args <- list(kMax = k, alpha = d$alpha, beta = 0.2, sided = 1,
               informationRates = d$rates, typeOfDesign = d$type)
  if (!is.null(d$fut)) {
    args$futilityBounds <- d$fut
    args$bindingFutility <- FALSE
  }
  design <- do.call(getDesignGroupSequential, args)
  ch <- getDesignCharacteristics(design)
  fut <- if (is.null(d$fut)) rep(NA, k) else c(d$fut, NA)
  fprob <- c(ch$futilityProbabilities, NA)
  if (length(fprob) < k) fprob <- c(rep(0, k - 1), NA)
  rows[[d$id]] <- data.frame(
    design = d$id, alpha = d$alpha, spending = d$type, k_max = k, stage = seq_len(k),
    information_rate = d$rates, futility_bound = fut,
    critical_value = design$criticalValues, alpha_spent = design$alphaSpent,
    shift = ch$shift, rejection_probability = ch$rejectionProbabilities,
    futility_probability = fprob
  )
}
out <- do.call(rbind, rows)
options(digits = 15)  # write.csv keeps 15 significant digits
write.csv(out, "tests/fixtures/gsd_rpact.csv", row.names = FALSE, na = "", quote = FALSE)
cat(sprintf("rpact %s, R %s: %d rows -> tests/fixtures/gsd_rpact.csv\n",
            packageVersion("rpact"), getRversion(), nrow(out)))
