# bash completion for kcs: kcsd, kcs-admin, kcs-cas, kcs-code, kcs-cut, kcs-download, kcs-hotline, kcs-keypool, kcs-keywriter, kcs-login, kcs-mailroom, kcs-ticket

_kcs_words() {
	case $1 in
	kcsd)
		echo "--config --db --key --spool --listen --tls-cert --tls-key --url-file --verify --help --version" ;;
	kcs-admin)
		echo "--url --token-file --db --key --role --password-file --password-fd --model
		      --production-date --skip-invalid --from --to --file --title --download --personalization-max
		      --dpn --outlet --dealer --size --since --log-key --previous --partial --verify --help --version" ;;
	kcs-hotline)
		echo "--url --token-file --sdrm-id --email --last-name --first-name --company --address
		      --city --state --zip --phone --comments --time-zone --tan --call-id --vin
		      --payment-ref --address-confirmed --signature-confirmed --tracking --serial --public-key --reason
		      --help --version" ;;
	kcs-login)
		echo "--url --email --sdrm-id --accept-disclaimer --password-file --password-fd
		      --sdrm-password-file --sdrm-password-fd --new-password-file --new-password-fd
		      --code --help --version" ;;
	kcs-cas)
		echo "--key --reason --keep --personalization --read --unit --set --car --apply --accept-disclaimer --device
		      --usb-id --token-file --url --help --version" ;;
	kcs-code)
		echo "--vin --key-code-file --key-code-fd --owner-file --customer-name --relation --id-kind
		      --id-state --id-last4 --registration-state --plate --accept-disclaimer --device --usb-id
		      --timeout --url --help --version" ;;
	kcs-cut)
		echo "--vin --key-code-file --key-code-fd --owner-file --customer-name --relation --id-kind
		      --id-state --id-last4 --registration-state --plate --accept-disclaimer --name --url --help --version" ;;
	kcs-download)
		echo "--output --url --help --version" ;;
	kcs-keywriter)
		echo "--device --usb-id --timeout --public-key --url --help --version" ;;
	kcs-keypool)
		echo "--vin --read-at --mileage --mileage-unit --fuel --battery --key-number --range-km --service
		      --device --source --dealer --location --lock --unlock --key-reader --agreement --token-file --url
		      --help --version" ;;
	kcs-mailroom)
		echo "--url --token-file --help --version" ;;
	kcs-ticket)
		echo "--accept-disclaimer --url --help --version" ;;
	esac
}

_kcs() {
	local cur prev prog words
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	prog=${COMP_WORDS[0]##*/}
	case $prev in
	--config|-c|--db|--key|--tls-cert|--tls-key|--url-file|--token-file|*-file|--file|--output|--previous)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	--spool)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
	--relation)
		mapfile -t COMPREPLY < <(compgen -W "owner family" -- "$cur"); return ;;
	--id-kind)
		mapfile -t COMPREPLY < <(compgen -W "drivers_license state_id passport" -- "$cur"); return ;;
	--role)
		mapfile -t COMPREPLY < <(compgen -W "operator mailroom maintenance admin reader fleet" -- "$cur"); return ;;
	--mileage-unit)
		mapfile -t COMPREPLY < <(compgen -W "km mi" -- "$cur"); return ;;
	--source)
		mapfile -t COMPREPLY < <(compgen -W "key_reader gki_import telematics" -- "$cur"); return ;;
	--time-zone)
		mapfile -t COMPREPLY < <(compgen -W "Eastern Central Mountain Arizona Pacific Alaska Hawaii Atlantic Chamorro Samoa" -- "$cur"); return ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_kcs_words "$prog")" -- "$cur")
		return
	fi
	# the command and subcommand words
	local n=0 w first= second=
	for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
		[[ $w == -* ]] && continue
		n=$((n + 1))
		[ $n -eq 1 ] && first=$w
		[ $n -eq 2 ] && second=$w
	done
	case $prog in
	kcs-admin)
		case $n in
		0) words="init operator request sdrm vehicle account outbox audit jobs download activation model dealer
			location keypool maintain backup restore" ;;
		1) case $first in
		   operator) words="add list remove" ;;
		   request) words="list approve refuse" ;;
		   sdrm) words="add import remove" ;;
		   vehicle) words="add import show" ;;
		   account) words="close" ;;
		   outbox) words="list show" ;;
		   audit) words="verify checkpoint key export verify-export" ;;
		   jobs) words="export" ;;
		   download) words="add" ;;
		   activation) words="add list" ;;
		   model) words="set" ;;
		   dealer) words="add list" ;;
		   location) words="add" ;;
		   keypool) words="client purge" ;;
		   maintain) words="expire purge mail checkpoint backup" ;;
		   backup|restore) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
		   esac ;;
		2) case "$first $second" in
		   "sdrm import"|"vehicle import") mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
		   "keypool client") words="add revoke" ;;
		   "audit verify-export") mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
		   esac ;;
		esac ;;
	kcs-hotline)
		[ $n -eq 0 ] && words="register resend-link correct-email redeem check-vin order-key
			order-keywriter ship cancel orders" ;;
	kcs-login)
		[ $n -eq 0 ] && words="password status logout orders jobs verify-address forgot reset" ;;
	kcs-cas)
		[ $n -eq 0 ] && words="show lock release lost-key activate personalize memory reconcile" ;;
	kcs-cut)
		[ $n -eq 0 ] && words="table decode" ;;
	kcs-download)
		[ $n -eq 0 ] && words="list get activation" ;;
	kcs-keywriter)
		[ $n -eq 0 ] && words="list info read doctor" ;;
	kcs-keypool)
		case $n in
		0) words="push import latest resolve settings unit" ;;
		1) case $first in
		   import) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
		   settings) words="show set reset" ;;
		   unit) words="add edit remove return assign close close-pending show" ;;
		   esac ;;
		2) [ "$first" = settings ] && words="integration provider distribution_product_number outlet_number
			prioritize_key_reader allow_add_manually" ;;
		esac ;;
	kcs-mailroom)
		[ $n -eq 0 ] && words="list print sent" ;;
	kcs-ticket)
		[ $n -eq 0 ] && words="status" ;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _kcs kcsd kcs-admin kcs-cas kcs-code kcs-cut kcs-download kcs-hotline kcs-keypool kcs-keywriter kcs-login kcs-mailroom kcs-ticket
