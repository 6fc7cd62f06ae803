/// The strict inbound parser lives in its own module (so its fuzz target builds without the
/// rest); everything that imports the domain core sees it as before.
@_exported public import CashierJSON
