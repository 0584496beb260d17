"""What the screens share: the message banner, buttons, forms that show errors on their fields, tables of records,
dialogs (how they start and end, confirmations, show-once secrets), optional dates, and second-factor enrolment."""
