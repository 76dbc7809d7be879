"""Names shown for stored values, and the fixed messages services raise in
English, listed for the catalogue (translated when shown)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


LABELS = {
    # conditions
    "new": _l("New"), "refurbished": _l("Refurbished"), "used": _l("Used"),
    # sharing decisions
    "none": _l("Not shared"), "alliances": _l("Our alliances"), "subscribers": _l("Every subscriber"),
    "companies": _l("Single companies"),
    # request kinds, urgency, terms
    "buy": _l("Buy"), "exchange": _l("Exchange"), "borrow": _l("Borrow"),
    "routine": _l("Routine"), "urgent": _l("Urgent"), "line_down": _l("Line down"),
    # request states
    "requested": _l("Requested"), "countered": _l("Counter-offer"), "accepted": _l("Accepted"),
    "shipped": _l("Shipped"), "received": _l("Received"), "return_shipped": _l("Sent back"),
    "core_shipped": _l("Core sent back"), "completed": _l("Completed"), "declined": _l("Declined"),
    "cancelled": _l("Cancelled"), "open": _l("Open"),
    # stock move reasons
    "initial": _l("Initial stock"), "adjust": _l("Adjustment"), "import": _l("Import"),
    "request_ship": _l("Shipped to a company"), "request_receive": _l("Received from a company"),
    "loan_return_ship": _l("Loan sent back"), "loan_return_receive": _l("Loan returned"),
    "core_receive": _l("Core received"),
    # attachments
    "drawing": _l("Drawing"), "photo": _l("Photo"), "certificate": _l("Certificate"),
    "inspection_report": _l("Inspection report"),
    # facets
    "category": _l("Category"), "manufacturer": _l("Manufacturer"), "condition": _l("Condition"),
    "region": _l("Region"), "model": _l("Equipment model"),
    # request events
    "offer_accepted": _l("Offer accepted"), "returned": _l("Sent back"), "core_sent": _l("Core sent back"),
    "return_received": _l("Loan returned"), "core_received": _l("Core received"), "rated": _l("Rated"),
    "message": _l("Message"), "closed": _l("Closed"),
    # payments
    "paid": _l("Paid"), "refunded": _l("Refunded"), "payment_started": _l("Payment started"),
    "payment_due": _l("awaiting payment"), "payment_pending": _l("payment started, not confirmed yet"),
    "payment_paid": _l("paid"), "payment_refunded": _l("refunded"), "payment_cancelled": _l("withdrawn"),
    # roles in a request
    "incoming": _l("Incoming"), "outgoing": _l("Outgoing"),
}

SERVICE_MESSAGES = (
    N_("Online payment is not set up here; settle offline"), N_("Only the requesting company pays"),
    N_("This request is settled offline between the companies"), N_("This request is paid already"),
    N_("The requester has not paid yet; ship once the payment is in"),
    N_("The payment has no charge to refund; ask AlloyHub support"),
    N_("No such spare part"), N_("No such listing"), N_("No such site."), N_("No such request"),
    N_("Enter the part number."), N_("A part number needs letters or digits."), N_("Choose new, refurbished or used."),
    N_("Enter a whole number, zero or more."), N_("Enter a price, zero or more."),
    N_("Use a three-letter currency code, e.g. CNY."), N_("Enter a change other than zero."),
    N_("Requests for this part are open; finish or decline them first"),
    N_("Enter both latitude and longitude, or neither."), N_("Latitude is between -90 and 90."),
    N_("Longitude is between -180 and 180."), N_("Upload a .csv or .xlsx file."),
    N_("The file is not a readable Excel workbook."), N_("Save the CSV file as UTF-8."),
    N_("The file is not a readable CSV file."), N_("The first row must name the columns; one must be part_number."),
    N_("The file has no rows to import."), N_("Nothing was imported: fix these rows and import the file again"),
    N_("Choose not shared, the company's alliances or every subscriber."),
    N_("The company belongs to no alliance; share with every subscriber instead."),
    N_("Choose among the company's alliances."), N_("Offer the part for sale, exchange or loan, or on request."),
    N_("Say within how many days the failed core must come back."),
    N_("Say for how many days at most the part may be borrowed."), N_("Enter a whole number."), N_("Enter a number."),
    N_("See the spare-parts stock and the industry catalogue"),
    N_("Edit the spare-parts stock, import it, attach files"),
    N_("Decide which spare parts are shared, with whom and on which terms"),
    N_("Request parts from other companies and answer their requests"),
    N_("Every spare part"), N_("Every wanted post"),
    N_("No such wanted post"), N_("This post is closed already"), N_("Ask for at least one."), N_("The date has passed."),
    N_("Choose the company's alliances or every subscriber."),
    N_("The company belongs to no alliance; post it to every subscriber instead."),
    N_("This is the company's own part"), N_("Choose routine, urgent or line down."),
    N_("The request changed meanwhile; reload it and try again"), N_("The other company takes this step"),
    N_("Only the requesting company takes this step"), N_("Price on request: send a quote (counter-offer) first"),
    N_("Offer a price, a quantity or an interchangeable part."), N_("Offer at least one."),
    N_("Price on request: quote a price."), N_("The part is no longer in the holder's stock"),
    N_("The borrowed parts are not in stock to send back"), N_("A purchase is not sent back"), N_("Write a message."),
    N_("Rate the other company once the request is complete"), N_("Give 1 to 5 stars."),
    N_("The company has rated this request already"),
    N_("Choose drawing, photo, certificate or inspection report."), N_("Name the file."),
    N_("Attach a PDF, an image, a drawing or an office document."),
    N_("This installation stores files itself: upload the file in the request"),
    N_("The file has not arrived in storage yet"), N_("No such attachment"), N_("No such alternate"),
    N_("That is the part itself."), N_("This alternate is listed already."), N_("Enter a date."),
)
