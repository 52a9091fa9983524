// The members page right after an invitation was made: the link is selected for copying, and "Copy" puts it
// on the clipboard (where the page is not a secure context, the selected text is left to copy by hand).
const field = document.getElementById("invitation-link");
const done = document.getElementById("copy-done");
field.focus();
field.select();
document.getElementById("copy-invitation").addEventListener("click", async () => {
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    done.hidden = false;
  } catch {
    done.textContent = "Press Ctrl+C to copy the selected link.";
    done.hidden = false;
  }
});
